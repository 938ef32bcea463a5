"""`pip wheel .` builds a wheel that installs and works in a fresh virtual
environment: the engine's core is inside it (only the Debian libraries that
scripts/setup.sh installs come from the system)."""
import os
import subprocess
import sys
import venv

from conftest import JFK, REPO


def test_wheel_installs_and_transcribes_in_a_fresh_venv(tmp_path):
    wheels = tmp_path / "wheels"
    # No build isolation: the build tools are the setup script's; the CMake
    # tree build/wheel/ is the one `pip install .` and setup.sh use (incremental).
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
                        "-q", "-w", str(wheels), str(REPO)], capture_output=True, text=True,
                       timeout=1200)
    assert r.returncode == 0, r.stderr[-4000:]
    (wheel,) = wheels.glob("amanuensis-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    r = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        str(wheel)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    program = ("import amanuensis, sys\n"
               "model = amanuensis.WhisperModel('tiny.en')\n"
               "segments, info = model.transcribe(sys.argv[1], beam_size=1)\n"
               "print(amanuensis.__file__)\n"
               "print(''.join(s.text for s in segments))\n")
    r = subprocess.run([str(python), "-c", program, str(JFK)], capture_output=True, text=True,
                       timeout=600, cwd=tmp_path,
                       env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert r.returncode == 0, r.stderr
    location, text = r.stdout.splitlines()[:2]
    assert location.startswith(str(env_dir))  # the wheel's copy, not the build tree's
    assert "ask not what your country can do for you" in text
