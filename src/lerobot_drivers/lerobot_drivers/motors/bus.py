"""A chain of servos on one serial port, driven through the vendor SDK (protocol-independent part).

Subclasses (`FeetechBus`, `DynamixelBus`) supply the SDK module and the few protocol differences: torque
registers, broadcast ping, status error bits, homing direction. Everything here speaks register names from
`tables.py` and motor names from the robot description; raw SDK result codes never leave this module.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import ClassVar

from lerobot_common.calibration import MotorCalibration
from lerobot_drivers.motors.errors import (
    CommunicationError,
    CorruptPacketError,
    MissingMotorError,
    MotorNotRespondingError,
    NoMotorsFoundError,
    PortDisconnectedError,
    WrongModelError,
)
from lerobot_drivers.motors.serial_port import open_port, reply_latency_s
from lerobot_drivers.motors.tables import MODELS, Register, model_by_number

try:
    from termios import error as _TermiosError
except ImportError:  # Windows: pyserial raises only SerialException there
    _TermiosError = OSError

COMM_SUCCESS = 0  # the same value in both SDKs
# What a vanished device raises inside pyserial: SerialException (an OSError) or, from tcflush, termios.error.
PORT_ERRORS = (OSError, _TermiosError)
PATIENT_RETRY_BUDGET_S = 2.0  # for operations outside the control loop (see MotorBus.patience)
SETTLE_LIMIT_S = 1.0  # a line that never goes quiet is not waited on longer (the transaction then fails)


@dataclass(frozen=True)
class Motor:
    name: str
    id: int
    model: str


@dataclass
class BusConfig:
    port: str
    baudrate: int = 1_000_000
    retries: int = 2  # extra attempts after a failed transaction
    retry_budget_s: float = 0.15  # no operation spends longer than this retrying


@dataclass
class BusStats:
    transactions: int = 0
    retries: int = 0
    failures: int = 0


@dataclass(frozen=True)
class MotorHealth:
    voltage_v: float
    temperature_c: float
    errors: list[str] = field(default_factory=list)


class MotorBus(abc.ABC):
    protocol: ClassVar[str]
    table: ClassVar[dict[str, Register]]
    drive_mode_register: ClassVar[str | None] = None

    def __init__(self, config: BusConfig, motors: Sequence[Motor]):
        ids = [motor.id for motor in motors]
        if len(set(ids)) != len(ids):
            raise ValueError(f"two motors share an id in {ids}: every motor on a bus needs its own id")
        for motor in motors:
            model = MODELS.get(motor.model)
            if model is None or model.protocol != self.protocol:
                known = sorted(name for name, m in MODELS.items() if m.protocol == self.protocol)
                raise ValueError(
                    f"motor {motor.name!r}: unknown {self.protocol} model {motor.model!r} ({known})"
                )
        self.config = config
        self.motors = {motor.name: motor for motor in motors}
        self.stats = BusStats()
        self.used_pty_fallback = False
        self._retry_budget_s = config.retry_budget_s
        self._by_id = {motor.id: motor for motor in motors}
        self._port_handler = None
        self._reply_latency_s = 0.0
        self._tries = 0  # attempts the last transaction made (the retry budget may cut them short)
        # The last transaction ended without its whole reply (timeout, damage, Ctrl-C): the rest may still
        # come, and neither protocol says which request a reply answers.
        self._reply_may_follow = False
        self._packet_handler = self._make_packet_handler()
        self._sync_readers: dict[tuple[int, int, tuple[int, ...]], object] = {}

    # ------------------------------------------------------------------------------------------ SDK hooks
    @property
    @abc.abstractmethod
    def sdk(self) -> ModuleType: ...

    @abc.abstractmethod
    def _make_packet_handler(self): ...

    @abc.abstractmethod
    def broadcast_ping(self) -> dict[int, int]:
        """Every motor that answers a broadcast ping: id → model number."""

    @abc.abstractmethod
    def set_torque(self, enabled: bool, motors: Iterable[str] | None = None) -> None: ...

    @abc.abstractmethod
    def half_turn_homing_offset(self, raw_position: int) -> int:
        """The Homing_Offset that makes a motor at raw (offset-free) `raw_position` read half a turn."""

    @abc.abstractmethod
    def read_health(self) -> dict[str, MotorHealth]: ...

    @abc.abstractmethod
    def _instruction_refused(self, status_error: int) -> str | None:
        """Why the motor refused an instruction according to its status byte, or None if it executed it."""

    # ------------------------------------------------------------------------------------------ connection
    @property
    def port(self) -> str:
        return self.config.port

    @property
    def is_connected(self) -> bool:
        return self._port_handler is not None and self._port_handler.is_open

    @contextlib.contextmanager
    def patience(self) -> Iterator[None]:
        """Let every retry be used, however long it takes: for connecting, configuring and the shutdown hold,
        where a failed transaction costs more than a late one (a control cycle keeps the short budget)."""
        outer = self._retry_budget_s  # nested (the arm's set_torque inside its connect): the outer one stands
        self._retry_budget_s = max(self.config.retry_budget_s, PATIENT_RETRY_BUDGET_S)
        try:
            yield
        finally:
            self._retry_budget_s = outer

    def register(self, name: str) -> Register:
        try:
            return self.table[name]
        except KeyError:
            raise KeyError(f"{self.protocol} control table has no register {name!r}") from None

    def connect(self, identify: bool = True) -> None:
        """Open the port and, with `identify`, check that every expected motor answers with its model."""
        self.disconnect()
        port_handler = self.sdk.PortHandler(self.config.port)
        self.used_pty_fallback = open_port(port_handler, self.config.baudrate)
        self._port_handler = port_handler
        self._reply_latency_s = reply_latency_s(self.config.port)
        self._reply_may_follow = False
        self._sync_readers.clear()
        if identify:
            try:
                with self.patience():  # connecting is outside any control loop: a late reply is no fault
                    self.identify()
            except BaseException:
                self.disconnect()
                raise

    def disconnect(self) -> None:
        """Close the port (if open). Torque is left as it is: the caller decides the safe state."""
        port_handler, self._port_handler = self._port_handler, None
        if port_handler is not None and port_handler.is_open:
            with contextlib.suppress(*PORT_ERRORS):  # the device is already gone: nothing left to close
                port_handler.closePort()

    def identify(self) -> None:
        """Ping every motor of the description; raise an error that names what is missing or wrong."""
        found = {motor.id: self.ping(motor.id) for motor in self.motors.values()}
        missing = [motor_id for motor_id, model in found.items() if model is None]
        where = f"{self.port} at {self.config.baudrate} baud"
        if len(missing) == len(found):
            others = self.broadcast_ping()
            if others:
                listing = ", ".join(
                    f"{i} ({model_by_number(self.protocol, n)})" for i, n in sorted(others.items())
                )
                raise MissingMotorError(
                    f"none of the expected motor ids {sorted(found)} answered on {where}, but ids {listing} "
                    "did: set the motors' ids (lerobot-setup-motors) or fix the robot description",
                    missing,
                    others,
                )
            raise NoMotorsFoundError(
                f"no motor answered on {where}: check that the servo power supply is on and the baud rate "
                f"(try --baud 57600 or 1000000; `lerobot-ros-discover --scan-motors {self.port}` probes them)"
            )
        if missing:
            others = {i: n for i, n in self.broadcast_ping().items() if i not in self._by_id}
            names = ", ".join(f"{self._by_id[i].name!r} (id {i}, {self._by_id[i].model})" for i in missing)
            hint = (
                "motors with unexpected ids answered: "
                + ", ".join(f"{i} ({model_by_number(self.protocol, n)})" for i, n in sorted(others.items()))
                + ": give the replaced motor its id (lerobot-setup-motors) or fix the robot description"
                if others
                else "check that motor's cable in the daisy chain and its power"
            )
            raise MissingMotorError(f"motor {names} did not answer on {where}: {hint}", missing, others)
        wrong = {
            motor_id: number
            for motor_id, number in found.items()
            if number != MODELS[self._by_id[motor_id].model].model_number
        }
        if wrong:
            details = "; ".join(
                f"{self._by_id[i].name!r} (id {i}) is a {model_by_number(self.protocol, n)} (model {n}), "
                f"the description expects a {self._by_id[i].model}"
                for i, n in wrong.items()
            )
            raise WrongModelError(f"{details}: check the robot type (--robot) and the motor ids")

    # ------------------------------------------------------------------------------------------ transactions
    def ping(self, motor_id: int) -> int | None:
        """Model number of the motor with `motor_id`, or None if it does not answer."""

        model_number = 0

        def attempt() -> tuple[int, int]:
            nonlocal model_number
            model_number, comm, error = self._packet_handler.ping(self._port_handler, motor_id)
            return comm, error

        comm, _ = self._attempt(attempt)
        return model_number if comm == COMM_SUCCESS else None

    def read(self, register_name: str, motor: str) -> int:
        register = self.register(register_name)
        motor_id = self.motors[motor].id
        result: list[int] = []

        def attempt() -> tuple[int, int]:
            data, comm, error = self._packet_handler.readTxRx(
                self._port_handler, motor_id, register.address, register.size
            )
            result[:] = data
            return comm, error

        comm, error = self._attempt(attempt)
        self._raise_on_failure(comm, f"read of {register_name}", [motor_id])
        self._raise_if_refused(error, f"read of {register_name}", motor_id)
        return register.from_bytes(result)

    def write(self, register_name: str, motor: str, value: int) -> None:
        """Write one register and wait for the motor's acknowledgement (use for configuration)."""
        register = self.register(register_name)
        motor_id = self.motors[motor].id
        data = register.to_bytes(value)

        def attempt() -> tuple[int, int]:
            return self._packet_handler.writeTxRx(
                self._port_handler, motor_id, register.address, register.size, data
            )

        comm, error = self._attempt(attempt)
        self._raise_on_failure(comm, f"write of {register_name}={value}", [motor_id])
        self._raise_if_refused(error, f"write of {register_name}={value}", motor_id)

    def sync_read(
        self, register_names: str | Sequence[str], motors: Iterable[str] | None = None
    ) -> dict[str, dict[str, int]]:
        """Read registers of several motors in one transaction: motor → register → value.

        The registers may be scattered: one sync read covers the span from the first to the last.
        """
        names = [register_names] if isinstance(register_names, str) else list(register_names)
        registers = [self.register(name) for name in names]
        start = min(r.address for r in registers)
        length = max(r.address + r.size for r in registers) - start
        motor_names = list(self.motors) if motors is None else list(motors)
        ids = tuple(self.motors[name].id for name in motor_names)
        reader = self._sync_reader(start, length, ids)

        comm, _ = self._attempt(lambda: (reader.txRxPacket(), 0))
        if comm != COMM_SUCCESS:
            # The SDK stops at the first motor that failed; earlier motors hold fresh data.
            silent = next((i for i in ids if len(reader.data_dict.get(i) or []) < length), ids[0])
            self._raise_on_failure(comm, f"sync read of {', '.join(names)}", [silent])
        values = {}
        for name, motor_id in zip(motor_names, ids, strict=True):
            block = reader.data_dict[motor_id]
            values[name] = {
                r.name: r.from_bytes(block[r.address - start : r.address - start + r.size]) for r in registers
            }
        return values

    def sync_write(self, register_name: str, values: Mapping[str, int]) -> None:
        """Write one register of several motors in one packet, without acknowledgement (use in loops)."""
        if not values:
            return
        register = self.register(register_name)
        writer = self.sdk.GroupSyncWrite(
            self._port_handler, self._packet_handler, register.address, register.size
        )
        for motor, value in values.items():
            writer.addParam(self.motors[motor].id, register.to_bytes(value))
        comm, _ = self._attempt(lambda: (writer.txPacket(), 0))
        self._raise_on_failure(comm, f"sync write of {register_name}", [self.motors[m].id for m in values])

    # ------------------------------------------------------------------------------------------ calibration
    def read_calibration(self) -> dict[str, MotorCalibration]:
        """Homing offsets and position limits stored in the motors (drive mode where the protocol has one)."""
        names = ["Homing_Offset", "Min_Position_Limit", "Max_Position_Limit"]
        if self.drive_mode_register:
            names.append(self.drive_mode_register)
        values = self.sync_read(names)
        return {
            motor: MotorCalibration(
                id=self.motors[motor].id,
                drive_mode=v.get(self.drive_mode_register, 0) if self.drive_mode_register else 0,
                homing_offset=v["Homing_Offset"],
                range_min=v["Min_Position_Limit"],
                range_max=v["Max_Position_Limit"],
            )
            for motor, v in values.items()
        }

    def write_calibration(self, calibration: Mapping[str, MotorCalibration]) -> None:
        """Store homing offsets and position limits in the motors (EEPROM: torque goes off first).

        Like lerobot, the drive mode is kept in the file only: writing it would reverse the motor.
        """
        self.set_torque(False, calibration)
        for motor, entry in calibration.items():
            self.write("Homing_Offset", motor, entry.homing_offset)
            self.write("Min_Position_Limit", motor, entry.range_min)
            self.write("Max_Position_Limit", motor, entry.range_max)

    # ------------------------------------------------------------------------------------------ internals
    def _sync_reader(self, start: int, length: int, ids: tuple[int, ...]):
        key = (start, length, ids)
        reader = self._sync_readers.get(key)
        if reader is None:
            reader = self.sdk.GroupSyncRead(self._port_handler, self._packet_handler, start, length)
            for motor_id in ids:
                reader.addParam(motor_id)
            self._sync_readers[key] = reader
        return reader

    def _attempt(self, attempt: Callable[[], tuple[int, int]], retry: bool = True) -> tuple[int, int]:
        """Run one SDK transaction with bounded retries; returns its last (result code, status error)."""
        if not self.is_connected:
            raise PortDisconnectedError(
                f"{self.port} is not open: connect() first (or reconnect after an unplug)"
            )
        port_handler = self._port_handler
        deadline = time.monotonic() + self._retry_budget_s
        comm, error = COMM_SUCCESS, 0
        for n_try in range(self.config.retries + 1 if retry else 1):
            self._tries = n_try + 1
            if n_try:
                self.stats.retries += 1
            self.stats.transactions += 1
            try:
                # A failed SDK call can leave its busy flag set, and the Feetech SDK never drops stale input.
                port_handler.is_using = False
                if self._reply_may_follow:
                    self._settle(port_handler)
                port_handler.ser.reset_input_buffer()
                self._reply_may_follow = True
                comm, error = attempt()
                self._reply_may_follow = comm != COMM_SUCCESS
            except IndexError:
                # The SDKs index replies without checking their length: a stray short reply (say a late
                # answer to a request that timed out) surfaces as IndexError. It is a bad reply: retry.
                comm, error = self.sdk.COMM_RX_CORRUPT, 0
            except PORT_ERRORS as err:  # the device vanished mid-transaction
                self.disconnect()
                raise PortDisconnectedError(
                    f"lost {self.port} ({err}): the USB cable was unplugged or the adapter reset; "
                    "reconnect once it is back"
                ) from err
            finally:
                port_handler.is_using = False
            if comm == COMM_SUCCESS or time.monotonic() >= deadline:
                break
        if comm != COMM_SUCCESS:
            self.stats.failures += 1
        return comm, error

    def _settle(self, port_handler) -> None:
        """Drop what arrives until the line has been quiet for a reply's latency: a late reply to an abandoned
        request would otherwise be taken for the answer to the next one (a velocity read as a position)."""
        started = quiet_since = time.monotonic()
        quiet_s = self._reply_latency_s
        while (now := time.monotonic()) - quiet_since < quiet_s and now - started < SETTLE_LIMIT_S:
            waiting = port_handler.ser.in_waiting
            if waiting:
                port_handler.ser.read(waiting)
                quiet_since = now
            time.sleep(0.002)

    def _raise_on_failure(self, comm: int, action: str, motor_ids: list[int]) -> None:
        if comm == COMM_SUCCESS:
            return
        who = ", ".join(f"{self._describe(i)}" for i in motor_ids)
        where = f"on {self.port} at {self.config.baudrate} baud"
        tries = f"after {self._tries} {'try' if self._tries == 1 else 'tries'}"
        if comm == self.sdk.COMM_RX_TIMEOUT:
            raise MotorNotRespondingError(
                f"{who} did not answer the {action} {where} {tries}: check that motor's power and cable "
                "(if no motor answers at all, check the baud rate)",
                motor_ids,
            )
        if comm == self.sdk.COMM_RX_CORRUPT:
            raise CorruptPacketError(
                f"replies from {who} to the {action} {where} were corrupt {tries}: check the cable and the "
                "ground connection, and that the motors use this baud rate",
                motor_ids,
            )
        reason = self._packet_handler.getTxRxResult(comm).replace("[TxRxResult] ", "")
        raise CommunicationError(f"{action} with {who} {where} failed {tries}: {reason}", motor_ids)

    def _raise_if_refused(self, status_error: int, action: str, motor_id: int) -> None:
        reason = self._instruction_refused(status_error)
        if reason:
            raise CommunicationError(f"{self._describe(motor_id)} refused the {action}: {reason}", [motor_id])

    def _describe(self, motor_id: int) -> str:
        motor = self._by_id.get(motor_id)
        return f"motor {motor.name!r} (id {motor_id})" if motor else f"motor id {motor_id}"
