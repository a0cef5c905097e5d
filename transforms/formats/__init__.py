"""Input formats: one module each (``feed``, ``html_page``, ``json_document``, ``json_lines``, ``plain_text``).

``base`` says what a format is (``Format``: how it is recognised, how it is
parsed, and, for a file too large to hold, how it is read as a stream of
records); ``registry.FORMATS`` lists the formats newsbeam reads.
"""
