"""The built-in tiny text/image-to-video model: works offline, on a CPU, with no downloads.

``BuiltinVideoPipeline.from_pretrained(WEIGHTS_DIR)`` loads the shipped weights.
"""

from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"
