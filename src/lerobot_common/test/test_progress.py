from lerobot_common.progress import progress


def test_a_log_gets_a_line_per_tenth_not_a_redrawn_bar(capsys):
    processed = []
    for item in progress(range(25), 25, "bags", "bag"):
        processed.append(item)
    assert processed == list(range(25))
    lines = capsys.readouterr().err.splitlines()  # captured: not a terminal
    assert [line.split(",")[0] for line in lines] == [
        f"bags: {n}/25 bags" for n in (3, 5, 8, 10, 13, 15, 18, 20, 23, 25)
    ]
    assert "\r" not in "".join(lines)


def test_disabled_progress_is_silent(capsys):
    assert list(progress([1, 2], 2, "files", "file", enabled=False)) == [1, 2]
    assert capsys.readouterr().err == ""
