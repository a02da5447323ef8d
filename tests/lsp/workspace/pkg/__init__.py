from .util import helper, CONSTANT
