"""The one MetaData every area's tables join. Each area keeps its tables beside its code
(booking/schema.py, console/schema.py, whatsapp/schema.py, …); migrations see them all through
antrean/migrations/env.py, which imports every schema module."""

from sqlalchemy import MetaData

metadata = MetaData()
