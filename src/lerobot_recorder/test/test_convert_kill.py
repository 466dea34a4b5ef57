"""A parallel conversion killed with SIGKILL: its workers die with it; the next run removes its scratch."""

import json
import subprocess
import sys
import textwrap

from lerobot_dataset import DatasetReader
from lerobot_dataset.validate import has_errors, validate_dataset
from lerobot_recorder.convert import convert_bags
from lerobot_recorder.scratch import remove_stale, scratch_folder

# Runs the converter with 2 workers and SIGKILLs it while a worker encodes; as the subreaper of the orphaned
# workers it then reaps them and prints how each ended (exit codes; -9: killed by SIGKILL).
SUPERVISOR = textwrap.dedent(
    """
    import ctypes, json, os, signal, subprocess, sys, time
    from pathlib import Path

    PR_SET_CHILD_SUBREAPER = 36
    assert ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1) == 0
    bags, output = sys.argv[1], Path(sys.argv[2])
    converter = subprocess.Popen([
        sys.executable, "-c", "import sys; from lerobot_recorder.convert_cli import main; sys.exit(main())",
        bags, "-o", str(output), "--workers", "2",
    ])
    scratch = f".{output.name}.converting-*/0*"
    while not list(output.parent.glob(scratch)):  # a worker has started writing its episode
        if converter.poll() is not None:
            sys.exit("the conversion ended before it could be killed")
        time.sleep(0.05)

    def children(pid):
        tasks = Path(f"/proc/{pid}/task")
        return [int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split()]

    workers = [p for p in children(converter.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
    os.kill(converter.pid, signal.SIGKILL)
    converter.wait()
    ended = {pid: os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in workers}
    while True:  # reap the rest (multiprocessing's resource tracker ends when its pipe closes)
        try:
            os.wait()
        except ChildProcessError:
            break
    print(json.dumps({"killed": converter.returncode, "workers": list(ended.values())}))
    """
)


def test_a_killed_parallel_conversion_leaves_no_worker_and_the_next_run_cleans_up(make_bag, tmp_path):
    bags, output = tmp_path / "bags", tmp_path / "dataset"
    for i in range(4):
        make_bag(bags / f"episode_{i:06d}", seconds=4.0)

    run = subprocess.run(
        [sys.executable, "-c", SUPERVISOR, str(bags), str(output)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    ended = json.loads(run.stdout.splitlines()[-1])
    assert ended["killed"] == -9
    assert len(ended["workers"]) == 2 and set(ended["workers"]) == {-9}  # killed with their parent
    [stale] = tmp_path.glob(".dataset.converting-*")  # what the kill left behind

    result = convert_bags([bags], output, progress=False, workers=1)  # in this process: no scratch of its own
    assert not stale.exists() and not list(tmp_path.glob(".dataset.converting-*"))
    assert not result.skipped and len(result.reports) + len(result.already) == 4
    problems = validate_dataset(output)
    assert not has_errors(problems), [str(p) for p in problems]
    with DatasetReader(output) as reader:
        assert reader.num_episodes == 4

    with scratch_folder(output) as live:  # the scratch folder of a conversion that runs is left alone
        assert remove_stale(output) == []
        assert live.is_dir()
    assert not live.exists()
