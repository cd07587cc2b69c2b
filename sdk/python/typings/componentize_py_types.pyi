from qiao_sdk.testing.standin import Err as Err, Ok as Ok, Some as Some
