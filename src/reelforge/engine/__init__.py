"""Everything that imports torch or diffusers: devices, model loading, adapters, the runtime.

Only workers import this package; the API process never does.
"""
