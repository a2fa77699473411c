"""File names that come from another unit, made safe to show, store and save on any system."""
import re
import unicodedata

MAX_NAME = 120
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')
_WINDOWS_DEVICES = re.compile(r"(?i)^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$")


def safe_filename(name, fallback: str) -> str:
    """No path, no control or reserved characters, no leading or trailing dots and spaces, no
    Windows device names, at most 120 characters (the suffix kept); Chinese kept as it is."""
    if not isinstance(name, str):
        return fallback
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    if len(name) > MAX_NAME:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[:MAX_NAME - len(suffix) - 1] + dot + suffix) if dot and len(suffix) <= 10 else name[:MAX_NAME]
    if _WINDOWS_DEVICES.match(name):
        name = "_" + name
    return name or fallback
