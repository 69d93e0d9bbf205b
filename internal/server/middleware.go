package server

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// logRequests logs method, route, status and latency only: never the
// client address or user agent, so no log line ties a person to an upload.
func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	s.metrics.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	s.log.Debug("request", "method", c.Request.Method, "route", route, "status", status, "duration", time.Since(start))
}
