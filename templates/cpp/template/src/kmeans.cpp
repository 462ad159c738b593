#include "kmeans.hpp"

#include <algorithm>
#include <limits>
#include <map>

namespace {

double distance2(const Point& a, const Point& b) {
    double sum = 0.0;
    for (std::size_t d = 0; d < a.size(); ++d) {
        const double diff = a[d] - b[d];
        sum += diff * diff;
    }
    return sum;
}

std::size_t nearest(const Point& x, const std::vector<Point>& centroids) {
    std::size_t best = 0;
    double best_d = std::numeric_limits<double>::max();
    for (std::size_t c = 0; c < centroids.size(); ++c) {
        const double d = distance2(x, centroids[c]);
        if (d < best_d) {
            best_d = d;
            best = c;
        }
    }
    return best;
}

std::vector<Point> farthest_first(const std::vector<Point>& points, std::size_t k) {
    std::vector<Point> centroids{points.front()};
    std::vector<double> dist;
    dist.reserve(points.size());
    for (const auto& p : points) dist.push_back(distance2(p, points.front()));
    while (centroids.size() < k) {
        const auto far = static_cast<std::size_t>(std::max_element(dist.begin(), dist.end()) - dist.begin());
        centroids.push_back(points[far]);
        for (std::size_t i = 0; i < points.size(); ++i) {
            dist[i] = std::min(dist[i], distance2(points[i], points[far]));
        }
    }
    return centroids;
}

}  // namespace

Clustering kmeans(const std::vector<Point>& points, std::size_t k, int max_iterations) {
    Clustering result;
    if (points.empty()) return result;
    k = std::min(k, points.size());
    const std::size_t dims = points.front().size();
    auto centroids = farthest_first(points, k);
    result.labels.assign(points.size(), -1);
    while (result.iterations < max_iterations) {
        ++result.iterations;
        bool changed = false;
        for (std::size_t i = 0; i < points.size(); ++i) {
            const int best = static_cast<int>(nearest(points[i], centroids));
            if (best != result.labels[i]) {
                result.labels[i] = best;
                changed = true;
            }
        }
        if (!changed) break;
        std::vector<Point> sums(k, Point(dims, 0.0));
        std::vector<std::size_t> counts(k, 0);
        for (std::size_t i = 0; i < points.size(); ++i) {
            const auto label = static_cast<std::size_t>(result.labels[i]);
            ++counts[label];
            for (std::size_t d = 0; d < dims; ++d) sums[label][d] += points[i][d];
        }
        for (std::size_t c = 0; c < k; ++c) {
            if (counts[c] == 0) continue;
            for (std::size_t d = 0; d < dims; ++d) centroids[c][d] = sums[c][d] / static_cast<double>(counts[c]);
        }
    }
    // Renumber in order of first appearance, so results do not depend on initialisation.
    std::map<int, int> mapping;
    for (auto& label : result.labels) {
        const auto found = mapping.emplace(label, static_cast<int>(mapping.size())).first;
        label = found->second;
    }
    return result;
}
