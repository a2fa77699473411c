"""Reading one setting from a service's config (``config.yaml``, itself from the environment)."""


def setting(config, name: str, default, kind=None):
    """``config[name]`` as ``kind`` (the default's type when not given); the default when it is
    missing or empty — an unset ``${NAME:}`` in config.yaml arrives as an empty string."""
    value = config.get(name)
    if value in (None, ""):
        return default
    return (kind or type(default))(value)
