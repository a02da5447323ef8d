import os
from pkg import util
from pkg.util import helper, Thing, missing_name

count = 3
label = "abc"


def main(arg):
    value = helper(arg)
    print(value, count, label, undefined_thing)
    return util.CONSTANT + Thing.size
