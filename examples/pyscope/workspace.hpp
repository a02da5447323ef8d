// workspace.hpp: what `pyscope serve` and `pyscope diagnose` add to pyscope's one way of
// loading a workspace (SearchPaths::discover and load_workspace in pyscope.hpp, as the
// `pyscope` command loads it): their shared options, a file an editor opens that the scan did
// not see, and the printed form of a diagnostic.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>

#include "pyscope.hpp"

namespace pyscope {

// The options `serve` and `diagnose` share with `pyscope`.
struct WorkspaceOptions {
  std::string stdlib;          // --stdlib DIR; empty: the one the project is in, else Debian's
  bool site_packages = false;  // --site-packages: report site-packages' diagnostics too

  // Takes argv[i] (and its value) if it is one of these options.
  bool parse(int argc, char** argv, int& i) {
    const std::string a = argv[i];
    if (a == "--site-packages") {
      site_packages = true;
      return true;
    }
    if (a == "--stdlib" && i + 1 < argc) {
      stdlib = argv[++i];
      return true;
    }
    return false;
  }
  SearchPaths search_paths(const std::string& project) const {
    return SearchPaths::discover(project, stdlib, site_packages);
  }
};

// A file the workspace's scan did not list (a new file an editor opened): in no search root,
// so nothing imports it, but it can be diagnosed; low durability, like the project's files.
inline File add_file(Db& db, const std::string& path) {
  FileData data;
  data.path = path;
  const File f = File::create(db, std::move(data), relish::Durability::low);
  db.files.push_back(f);
  db.file_roots.push_back(kNoRoot);
  return f;
}

// A file's path relative to the project directory (as given when it is outside).
inline std::string project_relative(const Db& db, const std::string& path) {
  if (path.rfind(db.project_dir + "/", 0) == 0) return path.substr(db.project_dir.size() + 1);
  return path;
}

// "pkg/mod.py:12: [unresolved-reference] ..." (line 1-based), the machine-comparable form of
// a diagnostic that `pyscope diagnose` prints and the LSP test compares with.
inline std::string diagnostic_line(const std::string& rel_path, const Diagnostic& d) {
  return rel_path + ":" + std::to_string(d.line) + ": [" + d.code + "] " + d.message;
}

}  // namespace pyscope
