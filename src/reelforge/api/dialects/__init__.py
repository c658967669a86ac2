"""One module per vendor API. Each owns its routes, its wire schemas, its key header, its status
words and its error envelope, and calls the same services as the OpenAI surface.

A dialect module exports ``router``, ``PREFIXES`` (the paths its error envelope covers) and
``render_error(request, exc, status)``.
"""

from . import aimlapi, novita, segmind, syllaby, vyro

DIALECTS = (vyro, segmind, syllaby, novita, aimlapi)
