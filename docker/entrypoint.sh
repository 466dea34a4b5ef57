#!/usr/bin/env bash
# Sources ROS and the workspace, then runs the container's command.
set -e
# shellcheck disable=SC1090,SC1091
source "/opt/ros/${ROS_DISTRO}/setup.bash"
source /ws/install/setup.bash
exec "$@"
