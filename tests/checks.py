"""How the Python tests report: check() prints one line per check (ok or FAIL
with the detail), finish() prints the closing 'N passed, M failed' line and
gives the exit status."""

failures = []  # names of the checks that failed
_passed = [0]


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))
    if cond:
        _passed[0] += 1
    else:
        failures.append(name)
    return cond


def finish(test):
    """The closing line and the exit status of a test script."""
    print(f"{test}: {_passed[0]} passed, {len(failures)} failed")
    return 1 if failures else 0
