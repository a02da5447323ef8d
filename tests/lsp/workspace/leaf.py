import json

from pkg.util import CONSTANT

payload = json.dumps({"n": CONSTANT})
