"""faster-whisper's format_timestamp."""


def format_timestamp(seconds: float, always_include_hours: bool = False,
                     decimal_marker: str = ".") -> str:
    """[HH:]MM:SS.mmm, hours only when there are some or always_include_hours."""
    if seconds < 0:
        raise ValueError(f"format_timestamp: {seconds} s: a timestamp is not negative")
    milliseconds = round(seconds * 1000.0)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    whole, milliseconds = divmod(milliseconds, 1_000)
    prefix = f"{hours:02d}:" if always_include_hours or hours > 0 else ""
    return f"{prefix}{minutes:02d}:{whole:02d}{decimal_marker}{milliseconds:03d}"
