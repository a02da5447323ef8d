// diagnose.hpp: `pyscope diagnose DIR [FILE...] [--threads N] [--stdlib DIR] [--site-packages]`,
// a from-scratch run on the workspace that `pyscope DIR` and `pyscope serve` load too
// (SearchPaths::discover, load_workspace). Prints diagnostics one per line (by path, then
// line) in the form of pyscope::diagnostic_line ("rel/path.py:LINE: [code] message", relative
// to DIR): the FILEs given (relative to DIR or absolute), else every analyzed file. What the
// language-server test compares the published diagnostics with.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "workspace.hpp"

namespace pyscope {

inline int diagnose_command(int argc, char** argv) {
  WorkspaceOptions workspace;
  std::string root;
  std::vector<std::string> wanted;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = static_cast<unsigned>(std::max(1, std::atoi(argv[++i])));
    } else if (workspace.parse(argc, argv, i)) {
    } else if (root.empty()) {
      root = a;
    } else {
      wanted.push_back(a);
    }
  }
  if (root.empty()) {
    std::fprintf(stderr,
                 "usage: pyscope diagnose DIR [FILE...] [--threads N] [--stdlib DIR] "
                 "[--site-packages]\n");
    return 64;
  }
  const SearchPaths search = workspace.search_paths(root);
  Db db;
  load_workspace(db, search);
  std::vector<File> files;
  if (wanted.empty()) {
    files = db.analyzed;
  } else {
    for (const std::string& w : wanted) {
      const std::string path =
          w.starts_with("/")
              ? w
              : std::filesystem::path(search.project + "/" + w).lexically_normal().string();
      const auto f = find_file(db, path);
      if (!f) {
        std::fprintf(stderr, "pyscope diagnose: no file %s in the workspace\n", path.c_str());
        return 1;
      }
      files.push_back(*f);
    }
  }
  const auto all = diagnose_all(db, files, threads);
  std::vector<std::pair<std::string, std::size_t>> order;  // by path, then line
  for (std::size_t i = 0; i < files.size(); ++i)
    order.emplace_back(project_relative(db, db.path(files[i])), i);
  std::sort(order.begin(), order.end());
  for (const auto& [rel, i] : order)
    for (const Diagnostic& d : all[i]) std::printf("%s\n", diagnostic_line(rel, d).c_str());
  return 0;
}

}  // namespace pyscope
