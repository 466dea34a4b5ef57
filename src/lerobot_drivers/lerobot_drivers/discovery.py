"""Finding what is plugged in: serial ports (servo adapters), cameras, and the motors on a port."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from serial.tools import list_ports

from lerobot_drivers.motors import BUSES, BusConfig
from lerobot_drivers.motors.errors import MotorBusError
from lerobot_drivers.motors.tables import model_by_number

# USB ids of the usual servo bus adapters.
ADAPTERS = {
    (0x1A86, 0x55D3): "CH343 (Feetech/Waveshare servo driver board, SO-100/SO-101)",
    (0x1A86, 0x7523): "CH340 (Feetech/Waveshare servo driver board)",
    (0x0403, 0x6014): "FT232H (ROBOTIS U2D2, Dynamixel)",
    (0x0403, 0x6001): "FT232R (USB-serial, e.g. Dynamixel adapters)",
}
DEFAULT_SCAN_BAUDRATES = (1_000_000, 57_600)


@dataclass(frozen=True)
class SerialPortInfo:
    device: str
    description: str
    hint: str  # what the adapter probably is, from its USB ids; empty if unknown
    serial_number: str


@dataclass(frozen=True)
class VideoDevice:
    path: str
    name: str


@dataclass(frozen=True)
class MotorScan:
    protocol: str
    baudrate: int
    motors: dict[int, str]  # id → model name


def list_serial_ports() -> list[SerialPortInfo]:
    ports = []
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        if port.vid is None and port.device.startswith("/dev/ttyS"):
            continue  # a motherboard UART (usually not even wired), never a servo adapter
        hint = ADAPTERS.get((port.vid, port.pid), "") if port.vid is not None else ""
        ports.append(SerialPortInfo(port.device, port.description or "", hint, port.serial_number or ""))
    return ports


def list_video_devices(sysfs: Path = Path("/sys/class/video4linux")) -> list[VideoDevice]:
    """V4L2 capture devices (Linux). A UVC camera exposes two nodes; only the first (index 0) captures."""
    devices = []
    for entry in sorted(sysfs.glob("video*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 0):
        index_file = entry / "index"
        if index_file.exists() and index_file.read_text().strip() != "0":
            continue
        name_file = entry / "name"
        name = name_file.read_text().strip() if name_file.exists() else ""
        devices.append(VideoDevice(f"/dev/{entry.name}", name))
    return devices


def list_realsense_devices() -> list[dict[str, str]] | None:
    """Name, serial number and firmware of each RealSense camera; None when pyrealsense2 is not installed."""
    try:
        import pyrealsense2 as rs
    except ImportError:
        return None
    info = rs.camera_info
    return [
        {
            "name": device.get_info(info.name),
            "serial_no": device.get_info(info.serial_number),
            "firmware": device.get_info(info.firmware_version),
        }
        for device in rs.context().query_devices()
    ]


def scan_motors(
    port: str, protocols: tuple[str, ...] = ("feetech", "dynamixel"), baudrates=DEFAULT_SCAN_BAUDRATES
) -> list[MotorScan]:
    """Broadcast-ping `port` with every protocol at every rate; the combinations where motors answered."""
    found = []
    for protocol in protocols:
        for baudrate in baudrates:
            bus = BUSES[protocol](BusConfig(port, baudrate, retries=0), [])
            try:
                bus.connect(identify=False)
                answers = bus.broadcast_ping()
            except MotorBusError:
                continue
            finally:
                bus.disconnect()
            if answers:
                motors = {i: model_by_number(protocol, number) for i, number in sorted(answers.items())}
                found.append(MotorScan(protocol, baudrate, motors))
    return found
