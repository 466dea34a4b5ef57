"""Control tables: register encodings against hand-computed values; every known model is drivable."""

import math

import pytest

from lerobot_common.motors import MOTOR_MODELS
from lerobot_drivers.motors.tables import DYNAMIXEL_X_TABLE, FEETECH_STS_TABLE, MODELS

pytestmark = pytest.mark.timeout(30)


def test_register_encodings_match_hand_computed_values():
    homing_ft, position_ft, load_ft = (
        FEETECH_STS_TABLE[n] for n in ("Homing_Offset", "Present_Position", "Present_Load")
    )
    assert homing_ft.encode(-1470) == 0x800 + 1470 and homing_ft.decode(0x800 + 1470) == -1470
    assert position_ft.encode(-5) == 0x8005 and position_ft.decode(0x8005) == -5
    assert load_ft.decode(0x400 | 200) == -200
    homing_dxl, current_dxl = DYNAMIXEL_X_TABLE["Homing_Offset"], DYNAMIXEL_X_TABLE["Present_Current"]
    assert homing_dxl.encode(-1470) == 0xFFFFFA42 and homing_dxl.decode(0xFFFFFA42) == -1470
    assert current_dxl.decode(0xFFFF) == -1
    assert FEETECH_STS_TABLE["Goal_Position"].to_bytes(1000) == [0xE8, 0x03]
    with pytest.raises(ValueError, match="does not fit"):
        homing_ft.encode(2048)
    with pytest.raises(ValueError, match="does not fit"):
        DYNAMIXEL_X_TABLE["Min_Position_Limit"].encode(-1)


def test_every_model_gets_its_protocols_table_and_velocity_unit():
    assert MODELS.keys() == MOTOR_MODELS.keys()
    sts, xl = MODELS["sts3215"], MODELS["xl330-m288"]
    assert (sts.resolution, sts.model_number, sts.table) == (4096, 777, FEETECH_STS_TABLE)
    assert sts.velocity_unit_rad_s == pytest.approx(2 * math.pi / 4096)  # one encoder step per second
    assert xl.table is DYNAMIXEL_X_TABLE and xl.velocity_unit_rad_s == pytest.approx(0.229 * 2 * math.pi / 60)
