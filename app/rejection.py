"""A request the app refuses, with the API error code and HTTP status to report.

Flask-free, so the core (face decoding) can raise it and the API can report
it as it is.
"""


class Rejected(Exception):
    def __init__(self, code, message, status):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
