"""Errors of the motor bus. Each message says what happened and what to try."""

from __future__ import annotations


class MotorBusError(Exception):
    """Base class of every motor bus error."""


class PortNotFoundError(MotorBusError):
    """The serial port does not exist (unplugged, wrong name)."""


class PortOpenError(MotorBusError):
    """The serial port exists but cannot be opened (permissions, busy, unsupported baud rate)."""


class PortDisconnectedError(MotorBusError):
    """The port went away while in use (USB unplugged); reconnect when it is back."""


class NoMotorsFoundError(MotorBusError):
    """Not a single expected motor answered: power, baud rate or port is wrong."""


class MissingMotorError(MotorBusError):
    """Some expected motors did not answer; `unexpected_ids` lists motors that answered in their place."""

    def __init__(self, message: str, missing_ids: list[int], unexpected_ids: dict[int, int]):
        super().__init__(message)
        self.missing_ids = missing_ids
        self.unexpected_ids = unexpected_ids


class WrongModelError(MotorBusError):
    """A motor answered with a model number other than the robot description's."""


class CommunicationError(MotorBusError):
    """A transaction failed after its retries; `motor_ids` names the motors involved."""

    def __init__(self, message: str, motor_ids: list[int]):
        super().__init__(message)
        self.motor_ids = motor_ids


class MotorNotRespondingError(CommunicationError):
    """A motor stopped answering (timeout)."""


class CorruptPacketError(CommunicationError):
    """Replies arrived damaged (checksum/CRC): noise, a bad cable or a baud-rate mismatch."""
