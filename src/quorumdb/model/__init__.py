"""quorumdb.model: DynamoDB's data model as pure functions over wire-form values.

Component index:

* ``numbers``  -- Number parsing, canonical text, exact arithmetic, ordering.
* ``values``   -- validation of untrusted AttributeValues/items; equality and order.
* ``keys``     -- key schema, key validation, order-preserving storage-key encoding.
* ``size``     -- item-size arithmetic and the 400 KB limit.
* ``capacity`` -- consumed read/write capacity units.

Boundaries: every value entering the system passes ``values.validate_item`` /
``validate_value`` once; everything downstream trusts the canonical wire form
(``docs/internals.md``). Key encoding lives only in ``keys``. Nothing here performs
I/O, reads clocks or uses randomness.
"""
