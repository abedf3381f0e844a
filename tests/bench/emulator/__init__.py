"""Our own AWS emulator for what moto lacks: Incident Manager (restJson1), SSM OpsItems and
Automation and Change Calendar (awsJson1_1), and CloudWatch metrics and alarms over Smithy RPC v2 CBOR (what
aws-sdk-cloudwatch speaks), on 127.0.0.1, for the unmodified AWS SDKs.

    from emulator import Emulator
    emu = Emulator(account="111122223333", region="us-east-1").start()
    os.environ["AWS_ENDPOINT_URL_SSM_INCIDENTS"] = emu.url   # and _SSM, _CLOUDWATCH

See core.Emulator for the in-process API, server.py for routing and the /_bench control plane.
"""

from .common import ApiError
from .core import Emulator

__all__ = ["ApiError", "Emulator"]
