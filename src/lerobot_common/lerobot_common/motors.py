"""The servo models the suite knows, and the facts every layer needs about them.

One table: the drivers add each protocol's control table to it (lerobot_drivers.motors.tables), robot
descriptions check their joints' models against it, and joint units take each model's resolution from it.
A new model, even one with another resolution, is one line here.
"""

from __future__ import annotations

from dataclasses import dataclass

PROTOCOLS = ("feetech", "dynamixel")
# lerobot's FeetechMotorsBus flips normalized values of drive_mode=1 motors; its DynamixelMotorsBus does not.
DRIVE_MODE_PROTOCOLS = ("feetech",)


@dataclass(frozen=True)
class MotorModel:
    name: str
    protocol: str  # one of PROTOCOLS
    model_number: int  # what the servo's Model_Number register reads
    resolution: int  # encoder ticks per turn


MOTOR_MODELS: dict[str, MotorModel] = {
    model.name: model
    for model in (
        MotorModel("sts3215", "feetech", 777, 4096),
        MotorModel("sts3250", "feetech", 2825, 4096),
        MotorModel("xl330-m077", "dynamixel", 1190, 4096),
        MotorModel("xl330-m288", "dynamixel", 1200, 4096),
        MotorModel("xl430-w250", "dynamixel", 1060, 4096),
        MotorModel("xm430-w350", "dynamixel", 1020, 4096),
        MotorModel("xm540-w270", "dynamixel", 1120, 4096),
        MotorModel("xc430-w150", "dynamixel", 1070, 4096),
    )
}
