import subprocess
import sys


def test_the_command_line_starts_without_loading_torch():
    """``ponder --help`` and argument errors should not pay torch's import time."""
    code = ("import sys, ponder.cli; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
