"""The motor bus on the real SDKs (scservo_sdk, dynamixel_sdk), over a real pty, against the emulator."""

import errno
import os
import time

import pytest

from lerobot_common.calibration import MotorCalibration
from lerobot_drivers.emulator import EmulatedServo, ServoBusEmulator
from lerobot_drivers.motors import BusConfig, DynamixelBus, FeetechBus, Motor
from lerobot_drivers.motors.errors import (
    CommunicationError,
    CorruptPacketError,
    MissingMotorError,
    MotorNotRespondingError,
    NoMotorsFoundError,
    PortDisconnectedError,
    PortNotFoundError,
    WrongModelError,
)
from lerobot_drivers.motors.serial_port import is_pseudo_terminal, open_port

pytestmark = pytest.mark.timeout(60)

SETUPS = {
    # protocol: (bus class, model, its model number, another model of the same protocol)
    "feetech": (FeetechBus, "sts3215", 777, "sts3250"),
    "dynamixel": (DynamixelBus, "xl330-m288", 1200, "xl430-w250"),
}


@pytest.fixture(params=sorted(SETUPS))
def protocol(request) -> str:
    return request.param


def chain(protocol: str, ids=(1, 2, 3), models: dict | None = None, **options) -> ServoBusEmulator:
    model = SETUPS[protocol][1]
    servos = [EmulatedServo(i, (models or {}).get(i, model), position=1000 + 100 * i) for i in ids]
    return ServoBusEmulator(protocol, servos, **options)


def bus_for(protocol: str, port: str, ids=(1, 2, 3), baudrate: int = 1_000_000):
    bus_class, model = SETUPS[protocol][:2]
    return bus_class(BusConfig(port, baudrate), [Motor(f"m{i}", i, model) for i in ids])


def wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_connect_identifies_every_motor(protocol):
    with chain(protocol) as emulator:
        bus = bus_for(protocol, emulator.port)
        bus.connect()
        assert bus.is_connected and not bus.used_pty_fallback
        model_number = SETUPS[protocol][2]
        assert bus.ping(2) == model_number
        assert bus.broadcast_ping() == {1: model_number, 2: model_number, 3: model_number}
        bus.disconnect()


def test_sync_read_and_sync_write_move_the_motors(protocol):
    with chain(protocol) as emulator:
        bus = bus_for(protocol, emulator.port)
        bus.connect()
        assert {m: v["Present_Position"] for m, v in bus.sync_read("Present_Position").items()} == {
            "m1": 1100,
            "m2": 1200,
            "m3": 1300,
        }
        bus.set_torque(True)
        bus.sync_write("Goal_Position", {"m1": 2100, "m2": 200, "m3": 1300})
        time.sleep(0.05)
        moving = bus.sync_read(["Present_Position", "Present_Velocity"])
        assert moving["m1"]["Present_Velocity"] > 0 > moving["m2"]["Present_Velocity"]
        assert moving["m3"]["Present_Velocity"] == 0

        def arrived() -> bool:
            positions = bus.sync_read("Present_Position")
            return [positions[m]["Present_Position"] for m in ("m1", "m2", "m3")] == [2100, 200, 1300]

        assert wait_for(arrived)
        assert emulator.servo(1).get("Goal_Position") == 2100
        bus.disconnect()


def test_torque_on_and_off(protocol):
    with chain(protocol) as emulator:
        bus = bus_for(protocol, emulator.port)
        bus.connect()
        bus.set_torque(True, ["m1", "m3"])
        assert [emulator.servo(i).get("Torque_Enable") for i in (1, 2, 3)] == [1, 0, 1]
        if protocol == "feetech":  # Lock follows torque so that EEPROM writes only stick with torque off
            assert emulator.servo(1).get("Lock") == 1
        bus.set_torque(False)
        assert [emulator.servo(i).get("Torque_Enable") for i in (1, 2, 3)] == [0, 0, 0]
        bus.disconnect()


def test_signed_registers_travel_in_each_protocols_encoding(protocol):
    with chain(protocol) as emulator:
        bus = bus_for(protocol, emulator.port)
        bus.connect()
        bus.write("Homing_Offset", "m1", -1470)
        memory = emulator.servo(1).memory
        if protocol == "feetech":  # sign-magnitude, sign bit 11: 0x800 | 1470 = 0x0DBE at address 31
            assert memory[31:33] == bytes([0xBE, 0x0D])
        else:  # two's complement, 4 bytes: 0xFFFFFA42 at address 20
            assert memory[20:24] == bytes([0x42, 0xFA, 0xFF, 0xFF])
        assert bus.read("Homing_Offset", "m1") == -1470
        bus.disconnect()


def test_calibration_registers_round_trip(protocol):
    with chain(protocol) as emulator:
        bus = bus_for(protocol, emulator.port)
        bus.connect()
        calibration = {
            f"m{i}": MotorCalibration(
                id=i, drive_mode=0, homing_offset=-300 * i, range_min=500 + i, range_max=3000 + i
            )
            for i in (1, 2, 3)
        }
        bus.set_torque(True)
        bus.write_calibration(calibration)  # turns torque off itself: EEPROM
        assert bus.read_calibration() == calibration
        assert emulator.servo(2).get("Homing_Offset") == -600
        assert emulator.servo(3).get("Max_Position_Limit") == 3003
        bus.disconnect()


def test_missing_port_says_what_to_do(protocol):
    bus = bus_for(protocol, "/dev/does-not-exist-ttyACM9")
    with pytest.raises(PortNotFoundError, match="lerobot-ros-discover"):
        bus.connect()


def test_wrong_baud_rate_is_detected(protocol):
    with chain(protocol, baudrate=57_600) as emulator:  # the motors were set to 57600 baud
        bus = bus_for(protocol, emulator.port, baudrate=1_000_000)
        with pytest.raises(NoMotorsFoundError, match="baud rate"):
            bus.connect()
        assert not bus.is_connected
        right = bus_for(protocol, emulator.port, baudrate=57_600)
        right.connect()
        right.disconnect()


def test_missing_motor_is_named(protocol):
    with chain(protocol) as emulator:
        emulator.servo(2).faults.silent = True
        bus = bus_for(protocol, emulator.port)
        with pytest.raises(MissingMotorError, match="'m2' \\(id 2") as caught:
            bus.connect()
        assert caught.value.missing_ids == [2] and caught.value.unexpected_ids == {}


def test_connect_retries_a_lost_reply_however_long_the_timeout(protocol):
    """A pty's packet timeout (scheduling allowance included) outlasts the control loop's retry budget; the
    identification at connect must still retry a ping whose reply was lost instead of calling the motor
    missing (on a loaded CI machine a late reply looks the same)."""
    with chain(protocol) as emulator:
        emulator.servo(2).faults.lost_replies = 1
        bus = bus_for(protocol, emulator.port)
        bus.connect()
        assert emulator.servo(2).faults.lost_replies == 0 and bus.stats.retries == 1
        bus.disconnect()


def test_a_failure_names_the_tries_it_made(protocol):
    """In the control loop the retry budget (0.15 s) ends after one pty timeout: the error says 1 try."""
    with chain(protocol) as emulator:
        bus = bus_for(protocol, emulator.port)
        bus.connect()
        emulator.servo(1).faults.lost_replies = 10
        with pytest.raises(MotorNotRespondingError, match="after 1 try:"):
            bus.read("Present_Position", "m1")
        with bus.patience(), pytest.raises(MotorNotRespondingError, match="after 3 tries:"):
            bus.read("Present_Position", "m1")
        bus.disconnect()


def test_motor_with_an_unexpected_id_is_reported(protocol):
    with chain(protocol, ids=(1, 2, 7)) as emulator:
        bus = bus_for(protocol, emulator.port, ids=(1, 2, 3))
        with pytest.raises(MissingMotorError, match="unexpected ids answered: 7") as caught:
            bus.connect()
        assert caught.value.missing_ids == [3]
        assert caught.value.unexpected_ids == {7: SETUPS[protocol][2]}


def test_wrong_model_is_reported(protocol):
    other = SETUPS[protocol][3]
    with chain(protocol, models={3: other}) as emulator:
        bus = bus_for(protocol, emulator.port)
        with pytest.raises(WrongModelError, match=f"'m3' \\(id 3\\) is a {other}"):
            bus.connect()


def test_motor_that_stops_answering_fails_fast_and_recovers(protocol):
    with chain(protocol) as emulator:
        bus = bus_for(protocol, emulator.port)
        bus.connect()
        emulator.servo(2).faults.silent = True
        transactions = bus.stats.transactions
        with pytest.raises(MotorNotRespondingError, match="'m2' \\(id 2\\) did not answer") as caught:
            bus.sync_read("Present_Position")
        assert bus.stats.transactions - transactions <= bus.config.retries + 1  # retries are bounded
        assert caught.value.motor_ids == [2]
        emulator.servo(2).faults.silent = False
        assert bus.sync_read("Present_Position")["m2"]["Present_Position"] == 1200
        bus.disconnect()


def test_corrupt_reply_is_retried_then_reported(protocol):
    with chain(protocol) as emulator:
        bus = bus_for(protocol, emulator.port)
        bus.connect()
        retries_before = bus.stats.retries
        emulator.servo(3).faults.corrupt_replies = 1
        assert bus.sync_read("Present_Position")["m3"]["Present_Position"] == 1300
        assert emulator.servo(3).faults.corrupt_replies == 0  # the damaged reply was sent...
        assert bus.stats.retries > retries_before  # ...and the bus retried past it
        emulator.servo(1).faults.corrupt_replies = 100
        with pytest.raises(CorruptPacketError, match="corrupt"):
            bus.sync_read("Present_Position")
        bus.disconnect()


def test_port_that_disappears_and_comes_back(protocol):
    with chain(protocol) as emulator:
        bus = bus_for(protocol, emulator.port)
        bus.connect()
        bus.set_torque(True)
        emulator.unplug()
        with pytest.raises(PortDisconnectedError, match="unplugged"):
            bus.sync_read("Present_Position")
        assert not bus.is_connected
        with pytest.raises(PortNotFoundError):
            bus.connect()
        emulator.replug()
        bus.connect()
        assert bus.sync_read("Present_Position")["m1"]["Present_Position"] == 1100
        assert emulator.servo(1).get("Torque_Enable") == 1  # the motors kept their state
        bus.disconnect()


def test_pty_fallback_keeps_the_sdk_timing_at_the_nominal_rate(protocol, tmp_path):
    with chain(protocol) as emulator:
        assert is_pseudo_terminal(emulator.port)
        bus_class = SETUPS[protocol][0]
        bus = bus_for(protocol, emulator.port)
        port_handler = bus.sdk.PortHandler(emulator.port)

        def refuse(baudrate):  # as macOS and some container ptys refuse 1 Mbaud
            raise OSError(errno.EINVAL, f"speed {baudrate} not supported")

        port_handler.setBaudRate = refuse
        assert open_port(port_handler, 1_000_000)  # the fallback was taken
        assert port_handler.ser.baudrate != 1_000_000
        assert port_handler.getBaudRate() == 1_000_000 and port_handler.tx_time_per_byte == pytest.approx(
            0.01
        )
        # Bytes pass at that timing (open_port also gave the pty its scheduling allowance: without it, a busy
        # host's emulator answered after the SDK's 1 Mbaud timeout, COMM_RX_TIMEOUT).
        model_number, comm, _ = bus._packet_handler.ping(port_handler, 1)
        assert comm == 0 and model_number == SETUPS[protocol][2]
        port_handler.closePort()
        assert bus_class.protocol == protocol
    regular_file = tmp_path / "ttyFAKE"
    regular_file.write_text("")
    assert not is_pseudo_terminal(str(regular_file)) and not is_pseudo_terminal(os.devnull)


def test_dynamixel_refuses_eeprom_writes_while_torque_is_on():
    with chain("dynamixel") as emulator:
        bus = bus_for("dynamixel", emulator.port)
        bus.connect()
        bus.set_torque(True)
        with pytest.raises(CommunicationError, match="disable torque first"):
            bus.write("Homing_Offset", "m1", 10)
        bus.disconnect()


def test_a_late_reply_to_a_timed_out_read_is_not_taken_for_the_next(protocol):
    """A reply later than its packet timeout (a loaded host, a slow adapter) must not answer the next request:
    the hold on shutdown once wrote a velocity of 0 as every motor's goal position this way."""
    with chain(protocol) as emulator:
        bus = bus_for(protocol, emulator.port)
        bus.connect()
        # Beyond the packet timeout (pty allowance included, 0.28 s), within the quiet time waited after it.
        emulator.reply_delay_s = 0.45
        with pytest.raises(MotorNotRespondingError):
            bus.sync_read("Present_Velocity")
        emulator.reply_delay_s = 0.0
        positions = {m: v["Present_Position"] for m, v in bus.sync_read("Present_Position").items()}
        assert positions == {"m1": 1100, "m2": 1200, "m3": 1300}
        bus.disconnect()


def test_a_reply_to_a_read_interrupted_by_ctrl_c_is_not_taken_for_the_next(protocol):
    """Ctrl-C lands while the SDK waits for a reply; the node's shutdown then reads the pose to hold it."""
    with chain(protocol) as emulator:
        bus = bus_for(protocol, emulator.port)
        bus.connect()
        port_handler = bus._port_handler
        read_port = port_handler.readPort

        def interrupted(length):
            port_handler.readPort = read_port
            raise KeyboardInterrupt

        emulator.reply_delay_s = 0.05  # the reply is still on its way when the read is abandoned
        port_handler.readPort = interrupted
        with pytest.raises(KeyboardInterrupt):
            bus.sync_read("Present_Velocity")
        positions = {m: v["Present_Position"] for m, v in bus.sync_read("Present_Position").items()}
        assert positions == {"m1": 1100, "m2": 1200, "m3": 1300}
        bus.disconnect()


def test_patience_nests():
    bus = bus_for("feetech", "/dev/null")
    with bus.patience():
        patient = bus._retry_budget_s
        with bus.patience():
            pass
        assert bus._retry_budget_s == patient > bus.config.retry_budget_s  # the outer one still stands
    assert bus._retry_budget_s == bus.config.retry_budget_s
