"""Control tables of the supported servos (Feetech STS/SMS protocol 0, Dynamixel X, P2.0).

One place for register addresses, sizes and signedness: the bus layer and the emulator both read them here.
The models themselves (name, protocol, model number, resolution) are lerobot_common.motors' table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

from lerobot_common.motors import MOTOR_MODELS, MotorModel


class Signedness(Enum):
    UNSIGNED = "unsigned"
    SIGN_MAGNITUDE = "sign_magnitude"  # Feetech: a sign bit, the magnitude in the bits below it
    TWOS_COMPLEMENT = "twos_complement"  # Dynamixel


@dataclass(frozen=True)
class Register:
    name: str
    address: int
    size: int
    signedness: Signedness = Signedness.UNSIGNED
    sign_bit: int = 0  # only for SIGN_MAGNITUDE

    def encode(self, value: int) -> int:
        """Signed value → the unsigned integer stored in the register."""
        value = int(value)
        if self.signedness is Signedness.SIGN_MAGNITUDE:
            magnitude = abs(value)
            if magnitude >= 1 << self.sign_bit:
                raise ValueError(f"{self.name}: {value} does not fit in {self.sign_bit} bits plus a sign bit")
            return magnitude | (1 << self.sign_bit) if value < 0 else magnitude
        bits = 8 * self.size
        if self.signedness is Signedness.TWOS_COMPLEMENT:
            if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
                raise ValueError(f"{self.name}: {value} does not fit in a signed {bits}-bit register")
            return value & ((1 << bits) - 1)
        if not 0 <= value < 1 << bits:
            raise ValueError(f"{self.name}: {value} does not fit in an unsigned {bits}-bit register")
        return value

    def decode(self, raw: int) -> int:
        """Unsigned integer read from the register → signed value."""
        if self.signedness is Signedness.SIGN_MAGNITUDE:
            magnitude = raw & ((1 << self.sign_bit) - 1)
            return -magnitude if raw & (1 << self.sign_bit) else magnitude
        if self.signedness is Signedness.TWOS_COMPLEMENT:
            bits = 8 * self.size
            return raw - (1 << bits) if raw & (1 << (bits - 1)) else raw
        return raw

    def to_bytes(self, value: int) -> list[int]:
        """Little-endian bytes of a signed value (both protocols are little-endian)."""
        return list(self.encode(value).to_bytes(self.size, "little"))

    def from_bytes(self, data: bytes | bytearray | list[int]) -> int:
        return self.decode(int.from_bytes(bytes(data[: self.size]), "little"))


def _table(*registers: Register) -> dict[str, Register]:
    return {register.name: register for register in registers}


_SM = Signedness.SIGN_MAGNITUDE
_TC = Signedness.TWOS_COMPLEMENT

# Feetech STS/SMS memory table (STS3215 manual). EEPROM below 40, RAM from 40 on.
FEETECH_STS_TABLE = _table(
    Register("Firmware_Major_Version", 0, 1),
    Register("Firmware_Minor_Version", 1, 1),
    Register("Model_Number", 3, 2),
    Register("ID", 5, 1),
    Register("Baud_Rate", 6, 1),
    Register("Return_Delay_Time", 7, 1),
    Register("Min_Position_Limit", 9, 2),
    Register("Max_Position_Limit", 11, 2),
    Register("Max_Torque_Limit", 16, 2),
    Register("Phase", 18, 1),
    Register("P_Coefficient", 21, 1),
    Register("D_Coefficient", 22, 1),
    Register("I_Coefficient", 23, 1),
    Register("Protection_Current", 28, 2),
    Register("Homing_Offset", 31, 2, _SM, 11),
    Register("Operating_Mode", 33, 1),
    Register("Overload_Torque", 36, 1),
    Register("Torque_Enable", 40, 1),
    Register("Acceleration", 41, 1),
    Register("Goal_Position", 42, 2, _SM, 15),
    Register("Goal_Velocity", 46, 2, _SM, 15),
    Register("Torque_Limit", 48, 2),
    Register("Lock", 55, 1),
    Register("Present_Position", 56, 2, _SM, 15),
    Register("Present_Velocity", 58, 2, _SM, 15),
    Register("Present_Load", 60, 2, _SM, 10),
    Register("Present_Voltage", 62, 1),
    Register("Present_Temperature", 63, 1),
    Register("Status", 65, 1),
    Register("Moving", 66, 1),
    Register("Present_Current", 69, 2),
)

# Dynamixel X series (XL330, XL430, XM430, ...) control table, Protocol 2.0. EEPROM below 64.
DYNAMIXEL_X_TABLE = _table(
    Register("Model_Number", 0, 2),
    Register("Firmware_Version", 6, 1),
    Register("ID", 7, 1),
    Register("Baud_Rate", 8, 1),
    Register("Return_Delay_Time", 9, 1),
    Register("Drive_Mode", 10, 1),
    Register("Operating_Mode", 11, 1),
    Register("Homing_Offset", 20, 4, _TC),
    Register("Current_Limit", 38, 2),
    Register("Max_Position_Limit", 48, 4),
    Register("Min_Position_Limit", 52, 4),
    Register("Torque_Enable", 64, 1),
    Register("Hardware_Error_Status", 70, 1),
    Register("Position_D_Gain", 80, 2),
    Register("Position_I_Gain", 82, 2),
    Register("Position_P_Gain", 84, 2),
    Register("Goal_Current", 102, 2, _TC),
    Register("Goal_Velocity", 104, 4, _TC),
    Register("Goal_Position", 116, 4, _TC),
    Register("Moving", 122, 1),
    Register("Present_Current", 126, 2, _TC),
    Register("Present_Velocity", 128, 4, _TC),
    Register("Present_Position", 132, 4, _TC),
    Register("Present_Input_Voltage", 144, 2),
    Register("Present_Temperature", 146, 1),
)

DYNAMIXEL_EEPROM_END = 64  # writes below this address are refused while torque is on


@dataclass(frozen=True)
class BusModel(MotorModel):
    """A model as the bus layer drives it: lerobot_common's facts plus its control table."""

    velocity_unit_rad_s: float  # one unit of Present_Velocity in rad/s
    table: dict[str, Register]


_TWO_PI = 6.283185307179586
_PROTOCOL_TABLES = {"feetech": FEETECH_STS_TABLE, "dynamixel": DYNAMIXEL_X_TABLE}


def _velocity_unit_rad_s(model: MotorModel) -> float:
    if model.protocol == "feetech":
        return _TWO_PI / model.resolution  # STS velocities are in encoder steps per second
    return 0.229 * _TWO_PI / 60  # Dynamixel X series: 0.229 rpm per unit


MODELS: dict[str, BusModel] = {
    name: BusModel(
        **asdict(model),
        velocity_unit_rad_s=_velocity_unit_rad_s(model),
        table=_PROTOCOL_TABLES[model.protocol],
    )
    for name, model in MOTOR_MODELS.items()
}

# Model numbers we can name in error messages even though this driver does not drive them (protocol 1).
OTHER_MODEL_NUMBERS = {1284: "scs0009"}

# Baud_Rate register value for each line rate.
FEETECH_BAUD_INDEX = {
    1_000_000: 0,
    500_000: 1,
    250_000: 2,
    128_000: 3,
    115_200: 4,
    57_600: 5,
    38_400: 6,
    19_200: 7,
}
DYNAMIXEL_BAUD_INDEX = {
    9_600: 0,
    57_600: 1,
    115_200: 2,
    1_000_000: 3,
    2_000_000: 4,
    3_000_000: 5,
    4_000_000: 6,
}

# Feetech status error bits and Dynamixel Hardware_Error_Status bits, for messages.
FEETECH_ERROR_BITS = {1: "input voltage", 2: "angle sensor", 4: "overheat", 8: "overcurrent", 32: "overload"}
DYNAMIXEL_HARDWARE_ERROR_BITS = {
    1: "input voltage",
    4: "overheat",
    8: "motor encoder",
    16: "electrical shock",
    32: "overload",
}


def model_by_number(protocol: str, model_number: int) -> str:
    """A model's name from its number, or a readable placeholder for an unknown one."""
    for model in MODELS.values():
        if model.protocol == protocol and model.model_number == model_number:
            return model.name
    return OTHER_MODEL_NUMBERS.get(model_number, f"unknown model {model_number}")


def describe_error_bits(bits: int, names: dict[int, str]) -> list[str]:
    return [name for bit, name in names.items() if bits & bit]
