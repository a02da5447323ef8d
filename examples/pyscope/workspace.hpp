// workspace.hpp: loading a workspace into a pyscope::Db (the one place that decides which files
// a run sees), shared by `pyscope serve` and `pyscope diagnose`.
#pragma once

#include <filesystem>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "pyscope.hpp"

namespace pyscope {

struct WorkspaceConfig {
  std::string root;                            // the analyzed directory (absolute)
  std::string stdlib;                          // the standard library ("": none)
  std::vector<std::string> extension_modules;  // e.g. <stdlib>/lib-dynload/*.so
  bool site_packages = false;                  // analyze site-packages under root too
};

// Scans the root (analyzed) and, when the root is elsewhere, the standard library (a search
// root of high durability), and loads them. Texts are read from disk by source_text.
inline void load_workspace(Db& db, const WorkspaceConfig& c) {
  LoadOptions opt;
  opt.roots = {c.root};
  std::vector<FileData> files = scan_directory(c.root, c.site_packages);
  if (!c.stdlib.empty() && c.stdlib != c.root) {
    opt.roots.push_back(c.stdlib);
    if (c.root.rfind(c.stdlib + "/", 0) != 0) {  // the library's files, for imports into it
      auto lib = scan_directory(c.stdlib);
      files.insert(files.end(), std::make_move_iterator(lib.begin()),
                   std::make_move_iterator(lib.end()));
    }
  }
  opt.extension_modules = c.extension_modules;
  load(db, std::move(files), opt);
}

inline std::string normalized_dir(const std::string& dir) {
  std::string out = std::filesystem::absolute(dir).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// "pkg/mod.py:12: [unresolved-reference] ..." (line 1-based), the machine-comparable form of
// a diagnostic that `pyscope diagnose` prints and the LSP test compares with.
inline std::string diagnostic_line(const std::string& rel_path, const Diagnostic& d) {
  return rel_path + ":" + std::to_string(d.line) + ": [" + d.code + "] " + d.message;
}

}  // namespace pyscope
