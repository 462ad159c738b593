// Statistics over the integers of a text file: a second translation unit, so that the build
// cache (one object file per source) has something to keep.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace demo {

struct Stats {
    long sum = 0;
    std::vector<long> sorted;  // the values, ascending
};

// Reads whitespace-separated integers from `path`; std::nullopt when it cannot be opened.
std::optional<Stats> read_stats(const std::string &path);

}  // namespace demo
