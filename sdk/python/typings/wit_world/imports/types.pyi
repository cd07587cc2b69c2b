from qiao_sdk.testing.standin import Error as Error, ErrorKind as ErrorKind, Event as Event
