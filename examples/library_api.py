"""Use aft as a library: open an instance, store a secret, run a script, read its log.

    python examples/library_api.py [INSTANCE_HOME]

Without an argument it works in a throw-away directory.
"""

from __future__ import annotations

import sys
import tempfile

from aft import Executor, Instance

SCRIPT = """
var token = GetSecret("partner-token");
Log("sending " + Param("file") + " with token " + token);
if (!token) { Exit(1); }
"""


def main(home: str) -> int:
    with Instance(home) as instance:
        instance.secrets.set("partner-token", "tok-123456")
        executor = Executor(secrets=instance.secrets)
        result = executor.run(SCRIPT, params={"file": "report.csv"}, name="send-report")
    for line in result.log:
        print(line.format())  # the token is masked: ********
    print(f"state={result.state.value} exit_code={result.exit_code}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else scratch))
