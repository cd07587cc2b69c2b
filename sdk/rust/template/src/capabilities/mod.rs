//! One module per exported capability: each implements its interface's `Guest` for `Connector`.

mod __CAP_SNAKE__; __EACH_CAPABILITY__
