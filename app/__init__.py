"""The Gradio web demo of dit-accel: dense vs accelerated video side by side (`python app/demo.py`)."""

import os

# Set before gradio is imported anywhere: gradio reads it at import time to decide on telemetry and
# version checks, and the demo must work with no network.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
