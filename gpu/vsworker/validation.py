"""Input validation: every field is checked for type, range, enum and size, and
every message names the field (e.g. "input.pitch") and says what is allowed."""

import base64
import binascii
import math
import re

from .errors import ValidationError

SHA256_RE = re.compile(r"[0-9a-f]{64}")
# Run ids end up in folder names and Applio model names: a conservative charset,
# no dots (so no "..") and no separators.
RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Applio ships logs/mute*, logs/reference and creates logs/zips; a run must never
# take one of those names because runs are linked into Applio's logs/ folder.
RESERVED_RUN_IDS = ("reference", "zips")
RESERVED_RUN_PREFIXES = ("mute",)

MIB = 1024 * 1024
EXACT_INTEGER_LIMIT = 10 ** 15  # larger integers are shown rounded


def format_number(value):
    """A number as an error message shows it: never hundreds of digits (pitch: 1e300 is a
    whole number, and int(1e300) has 301 of them)."""
    if isinstance(value, float):
        return repr(value)  # at most 17 significant digits and an exponent
    if abs(value) < EXACT_INTEGER_LIMIT:
        return str(value)
    if value.bit_length() <= 1000:  # float() would overflow beyond about 1e308
        return f"{float(value):.6g}"
    return "an integer with more than 300 digits"


def describe(value):
    """Short, safe rendering of a bad value for error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return repr(shown)
    if isinstance(value, (int, float)):
        return format_number(value)
    return type(value).__name__ if not isinstance(value, (list, dict)) else (
        "a list" if isinstance(value, list) else "an object"
    )


class Fields:
    """Reads fields from one JSON object, remembering which were used so that
    unknown (misspelled) fields are rejected by finish()."""

    def __init__(self, data, path="input"):
        if not isinstance(data, dict):
            raise ValidationError(f"{path} must be a JSON object, got {describe(data)}")
        self.data = data
        self.path = path
        self.used = set()

    def name(self, key):
        return f"{self.path}.{key}"

    def _get(self, key, required, default):
        self.used.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                raise ValidationError(f"{self.name(key)} is required")
            return False, default
        return True, self.data[key]

    def has(self, key):
        return key in self.data and self.data[key] is not None

    def string(self, key, required=False, default=None, pattern=None, max_len=256,
               pattern_help=None):
        present, value = self._get(key, required, default)
        if not present:
            return value
        if not isinstance(value, str):
            raise ValidationError(f"{self.name(key)} must be a string, got {describe(value)}")
        if len(value) > max_len:
            raise ValidationError(f"{self.name(key)} must be at most {max_len} characters")
        # fullmatch: `$` would also accept a final newline ("alice\n" as a folder name).
        if pattern is not None and not pattern.fullmatch(value):
            raise ValidationError(
                f"{self.name(key)} {pattern_help or 'has an invalid format'}, got {describe(value)}"
            )
        return value

    def enum(self, key, choices, required=False, default=None):
        present, value = self._get(key, required, default)
        if not present:
            return value
        if not isinstance(value, str) or value not in choices:
            raise ValidationError(
                f"{self.name(key)} must be one of {', '.join(repr(c) for c in choices)}, "
                f"got {describe(value)}"
            )
        return value

    def integer(self, key, minimum, maximum, required=False, default=None, choices=None):
        present, value = self._get(key, required, default)
        if not present:
            return value
        # bool is a subclass of int in Python; JSON true must not pass as 1.
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ValidationError(
                    f"{self.name(key)} must be an integer, got {describe(value)}"
                )
        if choices is not None:
            if value not in choices:
                raise ValidationError(
                    f"{self.name(key)} must be one of {', '.join(str(c) for c in choices)}, "
                    f"got {describe(self.data[key])}"
                )
        elif not minimum <= value <= maximum:
            raise ValidationError(
                f"{self.name(key)} must be an integer from {minimum} to {maximum}, "
                f"got {describe(self.data[key])}"
            )
        return value

    def number(self, key, minimum, maximum, required=False, default=None):
        present, value = self._get(key, required, default)
        if not present:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(f"{self.name(key)} must be a number, got {describe(value)}")
        # NaN and ±inf fail the comparison; math.isfinite would overflow on a huge JSON integer.
        if not minimum <= value <= maximum:
            raise ValidationError(
                f"{self.name(key)} must be a number from {minimum} to {maximum}, got {describe(value)}"
            )
        return float(value)

    def boolean(self, key, required=False, default=None):
        present, value = self._get(key, required, default)
        if not present:
            return value
        if not isinstance(value, bool):
            raise ValidationError(
                f"{self.name(key)} must be true or false, got {describe(value)}"
            )
        return value

    def sha256(self, key, required=False):
        return self.string(
            key, required=required, pattern=SHA256_RE, max_len=64,
            pattern_help="must be a sha256 hex digest (64 lowercase hex characters)",
        )

    def run_id(self, key, required=True):
        value = self.string(
            key, required=required, pattern=RUN_ID_RE, max_len=64,
            pattern_help="must be 1-64 characters of A-Z a-z 0-9 _ - starting with a letter or digit",
        )
        if value is not None:
            lowered = value.lower()
            if lowered in RESERVED_RUN_IDS or lowered.startswith(RESERVED_RUN_PREFIXES):
                raise ValidationError(
                    f"{self.name(key)} {describe(value)} is reserved by Applio's logs/ folder "
                    "(names 'reference', 'zips' and names starting with 'mute'); choose another"
                )
        return value

    def request_key(self, key="request_key"):
        """The client's key for a paid request (gpu/vsworker/requests.py); a folder name on the volume."""
        return self.string(
            key, pattern=RUN_ID_RE, max_len=64,
            pattern_help="must be 1-64 characters of A-Z a-z 0-9 _ - starting with a letter or digit",
        )

    def base64_bytes(self, key, max_bytes, required=False):
        present, value = self._get(key, required, None)
        if not present:
            return None
        return decode_base64(value, self.name(key), max_bytes)

    def obj(self, key, required=False):
        present, value = self._get(key, required, None)
        if not present:
            return None
        return Fields(value, self.name(key))

    def array(self, key, max_items, required=False):
        present, value = self._get(key, required, None)
        if not present:
            return None
        if not isinstance(value, list):
            raise ValidationError(f"{self.name(key)} must be a list, got {describe(value)}")
        if len(value) > max_items:
            raise ValidationError(
                f"{self.name(key)} has {len(value)} items; at most {max_items} are allowed"
            )
        return value

    def finish(self, context):
        unknown = sorted(k for k in self.data if k not in self.used)
        if unknown:
            known = ", ".join(sorted(self.used)) or "none"
            raise ValidationError(
                f"{self.name(unknown[0])} is not a field of {context} (known fields: {known})"
            )


def decode_base64(value, field, max_bytes):
    """Strict standard base64 (with padding, no whitespace), bounded before decoding."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a base64 string, got {describe(value)}")
    max_chars = 4 * math.ceil(max_bytes / 3)
    if len(value) > max_chars:
        raise ValidationError(
            f"{field} is too large: at most {max_bytes} bytes ({max_bytes // MIB} MiB) "
            "may travel inline; upload larger files as blobs"
        )
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(
            f"{field} is not valid base64 (standard alphabet, '=' padding, no line breaks)"
        ) from None
    if len(data) > max_bytes:
        raise ValidationError(
            f"{field} is too large: it decodes to {len(data)} bytes and the limit is {max_bytes}; "
            "upload larger files as blobs"
        )
    return data
