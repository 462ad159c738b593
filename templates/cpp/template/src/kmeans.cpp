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

// The points stored by dimension (one column per dimension, padded to whole lanes), so that
// the distance loop works on `lanes` points at once: SIMD registers, natively and in wasm
// (SIMD128), while each point's sum still adds its dimensions in order (the same labels as a
// loop per point). The lane loops have a constant trip count: compilers unroll and vectorise
// them at -O2 and keep the sums in registers.
class Columns {
public:
    static constexpr std::size_t lanes = 8;

    Columns(const std::vector<Point>& points, std::size_t dims)
        : n_(points.size()), stride_((points.size() + lanes - 1) / lanes * lanes), values_(stride_ * dims, 0.0) {
        for (std::size_t i = 0; i < n_; ++i) {
            for (std::size_t d = 0; d < dims; ++d) values_[d * stride_ + i] = points[i][d];
        }
    }

    // The index of each point's nearest centroid (the first of equals).
    void nearest(const std::vector<Point>& centroids, std::vector<int>& out) const {
        for (std::size_t start = 0; start < n_; start += lanes) {
            double best_d[lanes];
            int best[lanes];
            for (std::size_t j = 0; j < lanes; ++j) {
                best_d[j] = std::numeric_limits<double>::max();
                best[j] = 0;
            }
            for (std::size_t c = 0; c < centroids.size(); ++c) {
                double dist[lanes] = {};
                const Point& centroid = centroids[c];
                for (std::size_t d = 0; d < centroid.size(); ++d) {
                    const double y = centroid[d];
                    const double* column = values_.data() + d * stride_ + start;
                    for (std::size_t j = 0; j < lanes; ++j) {
                        const double diff = column[j] - y;
                        dist[j] += diff * diff;
                    }
                }
                for (std::size_t j = 0; j < lanes; ++j) {
                    if (dist[j] < best_d[j]) {
                        best_d[j] = dist[j];
                        best[j] = static_cast<int>(c);
                    }
                }
            }
            const std::size_t len = std::min(lanes, n_ - start);
            std::copy(best, best + len, out.begin() + static_cast<std::ptrdiff_t>(start));
        }
    }

private:
    std::size_t n_;
    std::size_t stride_;
    std::vector<double> values_;
};

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
    const Columns columns(points, dims);
    std::vector<int> nearest(points.size(), 0);
    result.labels.assign(points.size(), -1);
    while (result.iterations < max_iterations) {
        ++result.iterations;
        bool changed = false;
        columns.nearest(centroids, nearest);
        for (std::size_t i = 0; i < points.size(); ++i) {
            if (nearest[i] != result.labels[i]) {
                result.labels[i] = nearest[i];
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
