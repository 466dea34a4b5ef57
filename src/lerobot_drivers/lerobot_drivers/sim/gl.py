"""Choice of MuJoCo's headless OpenGL backend (EGL or OSMesa), and the advice to give when none works."""

import ctypes
import os
import subprocess
import sys

# Preferred first: EGL renders on a GPU if there is one and on Mesa's llvmpipe otherwise; OSMesa is CPU only.
GL_BACKENDS = ("egl", "osmesa")
# Library groups a backend needs (any one name of each group); the first group is what MuJoCo loads itself.
_LIBRARIES = {
    "egl": (("libEGL.so.1",), ("libEGL_mesa.so.0", "libEGL_nvidia.so.0")),
    "osmesa": (("libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so"),),
}
_PACKAGES = {"egl": "libegl1 libegl-mesa0", "osmesa": "libosmesa6"}
INSTALL_HINT = (
    "install Mesa's EGL (Debian/Ubuntu: `apt-get install libegl1 libegl-mesa0`) or OSMesa "
    "(`apt-get install libosmesa6`), or set MUJOCO_GL (egl, osmesa, glfw with a display) before starting "
    "Python"
)
_PROBE = (
    "import mujoco\n"
    "model = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size=\"1\"/></worldbody></mujoco>')\n"
    "renderer = mujoco.Renderer(model, 8, 8)\n"
    "renderer.update_scene(mujoco.MjData(model))\n"
    "renderer.render()\n"
)


class RenderBackendError(RuntimeError):
    """No OpenGL backend MuJoCo can render with; the message says what to install or set."""


def _loadable(names: tuple[str, ...]) -> bool:
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def installed_gl_backends() -> list[str]:
    """Headless backends whose system libraries load in this process (cheap; does not open a context)."""
    return [name for name in GL_BACKENDS if all(_loadable(group) for group in _LIBRARIES[name])]


def ensure_gl_backend() -> str | None:
    """Set ``MUJOCO_GL`` to the first installed headless backend unless the user already chose one.

    Returns the backend in effect, or None when nothing is installed (rendering then fails with
    :func:`render_failure_advice`; physics works regardless). Raises RenderBackendError when the user chose
    a backend whose library is missing: MuJoCo would fail on import with an obscure error.
    """
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        needed = _LIBRARIES.get(chosen.lower().strip())
        if needed and not _loadable(needed[0]):
            others = [name for name in installed_gl_backends() if name != chosen]
            instead = f"or unset MUJOCO_GL ({others[0]} is installed here)" if others else f"({INSTALL_HINT})"
            raise RenderBackendError(
                f"MUJOCO_GL={chosen}, but {' or '.join(needed[0])} is not installed: "
                f"apt-get install {_PACKAGES[chosen.lower().strip()]} {instead}"
            )
        return chosen
    installed = installed_gl_backends()
    if not installed:
        return None
    if "mujoco" in sys.modules:
        # Too late to choose: MuJoCo already fixed its backend (GLFW) at import.
        return None
    os.environ["MUJOCO_GL"] = installed[0]
    return installed[0]


def probe_gl_backend(name: str, timeout: float = 60.0) -> str | None:
    """Render a tiny frame with ``MUJOCO_GL=name`` in a fresh interpreter; None if it works, else why not."""
    env = {**os.environ, "MUJOCO_GL": name}
    env.pop("PYOPENGL_PLATFORM", None)
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    if result.returncode == 0:
        return None
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def render_failure_advice(error: BaseException) -> str:
    """What to tell a user whose renderer failed: the error, which backends work here, what to install."""
    current = os.environ.get("MUJOCO_GL", "<unset: GLFW, needs a display>")
    working = [name for name in GL_BACKENDS if name != current and probe_gl_backend(name) is None]
    advice = f"MuJoCo cannot render with MUJOCO_GL={current}: {error}. "
    if working:
        return advice + f"On this machine MUJOCO_GL={working[0]} works: set it before starting Python."
    return advice + f"No headless backend works on this machine: {INSTALL_HINT}."
