#include "numbers.hpp"

#include <algorithm>
#include <fstream>
#include <numeric>

namespace demo {

std::optional<Stats> read_stats(const std::string &path) {
    std::ifstream in(path);
    if (!in) {
        return std::nullopt;
    }
    Stats stats;
    long value = 0;
    while (in >> value) {
        stats.sorted.push_back(value);
    }
    std::sort(stats.sorted.begin(), stats.sorted.end());
    stats.sum = std::accumulate(stats.sorted.begin(), stats.sorted.end(), 0L);
    return stats;
}

}  // namespace demo
