from qiao_sdk.testing.standin import (HttpError as HttpError, HttpError_InvalidRequest as HttpError_InvalidRequest,
                                      HttpError_NotAllowed as HttpError_NotAllowed,
                                      HttpError_RequestLimit as HttpError_RequestLimit,
                                      HttpError_Timeout as HttpError_Timeout, HttpError_TooLarge as HttpError_TooLarge,
                                      HttpError_Transport as HttpError_Transport, Method as Method, Request as Request,
                                      Response as Response)

def send(request: Request) -> Response: ...
