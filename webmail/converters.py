"""URL converters. Our ids are 64-bit integers: a longer run of digits names nothing, and
handed to the database it would overflow a bigint (a 500). ``<id:name>`` matches 1 to 18 digits
(below 2**63 - 1), so anything else is a 404 before a view runs."""


class IdConverter:
    regex = "[0-9]{1,18}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(int(value))
