"""Raw API records -> typed landing rows.

One module per cloud. Each ``to_*_row`` function takes one record exactly as the cloud API returns it
(plus the scope context the API call was made in) and returns the typed columns we extract for it.
Required fields are read with ``record["key"]`` so a malformed record raises and is rejected visibly;
optional ones with ``.get()`` and ``None`` when absent. The original JSON is kept by the writer.
"""
