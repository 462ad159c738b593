// K-means clustering: the algorithm, independent of how it gets its input.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

using Point = std::vector<double>;

struct Clustering {
    std::vector<int> labels;  // one per point, numbered in order of first appearance
    int iterations = 0;
};

// Lloyd's algorithm with a deterministic farthest-first initialisation.
Clustering kmeans(const std::vector<Point>& points, std::size_t k, int max_iterations);

// Reads one point per line, numbers separated by spaces or commas; throws std::runtime_error.
std::vector<Point> read_points(const std::string& path);

// Parses the task's params `[[[x, y, ...], ...], k]`; throws std::runtime_error.
std::vector<Point> parse_params(const std::string& json, long& k);
