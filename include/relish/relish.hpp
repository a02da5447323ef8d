// relish: incremental computation for C++20 (the umbrella header).
//
// | ingredient     | what it is                                     | identity               |
// |----------------|------------------------------------------------|------------------------|
// | Input<T>       | a record whose fields are set from outside     | by creation            |
// | Query<F, O>    | a memoized function of the database and a key  | by key                 |
// | Interned<T>    | same data, same handle; O(1) equality          | by value               |
// | Tracked<T>     | an entity created inside a query               | creating query + value |
//
// Glossary. A *revision* counts writes. A *memo* is a query's value plus the dependencies it
// read, the revision it was last *verified* in and the revision its value last *changed* in.
// *Verifying* a memo checks its dependencies instead of re-running it; *backdating* keeps an
// old changed-at for a re-computed value equal to the old one. *Durability* lets a memo that
// depends only on rarely-changing inputs skip verification after an edit elsewhere.
#pragma once

#include "relish/accumulator.hpp"
#include "relish/database.hpp"
#include "relish/durability.hpp"
#include "relish/error.hpp"
#include "relish/event.hpp"
#include "relish/input.hpp"
#include "relish/interned.hpp"
#include "relish/query.hpp"
#include "relish/query_options.hpp"
#include "relish/reclaimable.hpp"
#include "relish/heap_size.hpp"
#include "relish/memory_report.hpp"
#include "relish/tracked.hpp"
