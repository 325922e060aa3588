"""A stand-in for model builders: records what a caller passes instead of building a model."""


class Built(Exception):
    """Raised by :func:`refuse_build` with the (args, kwargs) it received."""


def refuse_build(*args, **kwargs):
    raise Built(args, kwargs)
