package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/render"
)

// pageData is what every page template gets.
type pageData struct {
	Title    string
	Nav      string
	CSRF     string
	LoggedIn bool // a token is configured: show "Log out"
	Now      time.Time
	Page     any
}

var navItems = []struct{ Path, Name, Label string }{
	{"/", "overview", "Overview"},
	{"/exposures", "exposures", "Exposures"},
	{"/contacts", "contacts", "Contact log"},
	{"/harvester", "harvester", "Harvester"},
	{"/share", "share", "Share"},
	{"/settings", "settings", "Settings"},
}

var templateFuncs = template.FuncMap{
	"nav":                    func() any { return navItems },
	"day":                    dayWords,
	"dayISO":                 func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"clock":                  func(t time.Time) string { return t.UTC().Format("15:04") },
	"when":                   func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04") + " UTC" },
	"ago":                    ago,
	"rssi":                   formatRSSI,
	"score":                  formatScore,
	"band":                   func(r int) string { return rssiBand(r).Name },
	"bandWords":              func(r int) string { return rssiBand(r).Words },
	"strength":               strengthWords,
	"sourceWords":            sourceWords,
	"daySentence":            summarySentence,
	"possibleSourceTitle":    func() string { return PossibleSourceTitle },
	"explainPossibleSource":  func() string { return possibleSourceExplanation },
	"possibleSourceSentence": possibleSourceSentence,
	"unix":                   func(t time.Time) int64 { return t.Unix() },
	"rate":                   func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"count":                  func(n int64) string { return groupDigits(n) },
	"timeline":               timelineChart,
	"hoursChart":             hoursChart,
	"histogram":              histogramChart,
	"rssiBins":               rssiBins,
	"hourSources":            hourSources,
	"dayTotals":              dayTotals,
	"sourceColour":           func(s string) string { return "swatch-" + sourceClass(s) },
	"bandClass":              func(name string) string { return "swatch-" + name },
	"explainScore":           func() string { return scoreExplanation },
	"shareDays":              shareDays,
	"minuteRuns":             minuteRuns,
	"seq24": func() []int {
		r := make([]int, 24)
		for i := range r {
			r[i] = i
		}
		return r
	},
}

func sourceClass(s string) string {
	switch s {
	case "pact", "findmy", "repeater":
		return s
	}
	return "other"
}

func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in " + roughDuration(-d)
	case d < time.Minute:
		return "just now"
	}
	return roughDuration(d) + " ago"
}

func roughDuration(d time.Duration) string {
	switch {
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute", "minutes")
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour", "hours")
	}
	return plural(int(d.Hours()/24), "day", "days")
}

func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range []string{"overview", "exposures", "contacts", "harvester", "share", "settings", "login", "error"} {
		t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

func (s *server) render(c *gin.Context, status int, page, title string, data any) {
	nav := page
	c.Render(status, render.HTML{Template: s.pages[page], Name: "layout", Data: pageData{
		Title: title, Nav: nav, CSRF: s.csrfToken(c), LoggedIn: s.hasToken, Now: s.now(), Page: data,
	}})
}

func (s *server) renderError(c *gin.Context, status int, message string) {
	s.render(c, status, "error", http.StatusText(status), message)
}

// failed logs a backend error and answers 500 without its details, which
// may name files or addresses.
func (s *server) failed(c *gin.Context, what string, err error) {
	s.log.Error("web: "+what, "err", err, "path", c.Request.URL.Path)
	if strings.HasPrefix(c.Request.URL.Path, "/api/") {
		c.JSON(http.StatusInternalServerError, apiError{Error: what + " failed; see the node's log"})
		return
	}
	s.renderError(c, http.StatusInternalServerError, "Reading "+what+" failed; the node's log says why.")
}

type apiError struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields,omitempty"`
}

// ---- pages ----

type overviewView struct {
	Status   Status
	Headline headline
}

func (s *server) overviewPage(c *gin.Context) {
	st, err := s.backend.Status(c.Request.Context())
	if err != nil {
		s.failed(c, "status", err)
		return
	}
	s.render(c, http.StatusOK, "overview", "Overview", overviewView{Status: st, Headline: statusHeadline(st)})
}

type exposuresView struct {
	Exposures Exposures
	// Selected is the day shown in detail (chart and minutes): the newest
	// day with a match unless ?day= chooses another.
	Selected time.Time
	// Detail holds the summaries of Selected, ordinary ones first.
	Detail []DaySummary
}

// selectedDay reads ?day=YYYY-MM-DD; ok is false when it does not parse.
func selectedDay(c *gin.Context) (day time.Time, ok bool) {
	v := c.Query("day")
	if v == "" {
		return time.Time{}, true
	}
	t, err := time.ParseInLocation(dateLayout, v, time.UTC)
	return t, err == nil
}

func (s *server) exposuresPage(c *gin.Context) {
	day, ok := selectedDay(c)
	if !ok {
		s.renderError(c, http.StatusBadRequest, "The day must be written as YYYY-MM-DD, for example 2026-11-03.")
		return
	}
	ex, err := s.backend.Exposures(c.Request.Context(), day)
	if err != nil {
		s.failed(c, "exposures", err)
		return
	}
	v := exposuresView{Exposures: ex, Selected: ex.TimelineDay}
	for _, ds := range [][]DaySummary{ex.Days, ex.PossibleSource} {
		for _, d := range ds {
			if d.Day.Equal(v.Selected) {
				v.Detail = append(v.Detail, d)
			}
		}
	}
	s.render(c, http.StatusOK, "exposures", "Exposures", v)
}

func (s *server) contactsPage(c *gin.Context) {
	cl, err := s.backend.ContactLog(c.Request.Context())
	if err != nil {
		s.failed(c, "the contact log", err)
		return
	}
	s.render(c, http.StatusOK, "contacts", "Contact log", cl)
}

func (s *server) harvesterPage(c *gin.Context) {
	h, err := s.backend.Harvester(c.Request.Context())
	if err != nil {
		s.failed(c, "the harvester", err)
		return
	}
	s.render(c, http.StatusOK, "harvester", "Harvester", h)
}

// settingsView carries what the form shows: stored values, or on a
// refused save the values as typed, with a message per field.
type settingsView struct {
	MinRSSI         string
	RetentionDays   string
	SnoozeUntil     string
	Servers         string
	RxCorrectionDB  string
	NotifyThreshold string
	LogLocation     bool
	Errors          map[string]string
	Saved           bool
}

func settingsToView(st Settings) settingsView {
	v := settingsView{
		MinRSSI:         strconv.Itoa(st.MinRSSI),
		RetentionDays:   strconv.Itoa(st.RetentionDays),
		Servers:         formatServers(st.Servers),
		RxCorrectionDB:  strconv.Itoa(st.RxCorrectionDB),
		NotifyThreshold: strconv.FormatFloat(st.NotifyThreshold, 'g', -1, 64),
		LogLocation:     st.LogLocation,
	}
	if !st.SnoozeUntil.IsZero() {
		v.SnoozeUntil = st.SnoozeUntil.UTC().Format(snoozeLayout)
	}
	return v
}

func (s *server) settingsPage(c *gin.Context) {
	st, err := s.backend.Settings(c.Request.Context())
	if err != nil {
		s.failed(c, "settings", err)
		return
	}
	v := settingsToView(st)
	v.Saved = c.Query("saved") == "1"
	s.render(c, http.StatusOK, "settings", "Settings", v)
}

func (s *server) settingsForm(c *gin.Context) {
	typed := settingsView{
		MinRSSI: c.PostForm("min_rssi"), RetentionDays: c.PostForm("retention_days"),
		SnoozeUntil: c.PostForm("snooze_until"), Servers: c.PostForm("servers"),
		RxCorrectionDB: c.PostForm("rx_correction_db"), NotifyThreshold: c.PostForm("notify_threshold"),
		LogLocation: c.PostForm("log_location") == "on",
	}
	st, perrs := settingsFromForm(c.Request.PostForm)
	var err error
	if len(perrs) > 0 {
		err = perrs
	} else {
		err = ValidateSettings(st, s.now())
	}
	if err == nil {
		err = s.backend.SaveSettings(c.Request.Context(), st)
		if err != nil && !errors.Is(err, ErrInvalidInput) {
			s.failed(c, "saving settings", err)
			return
		}
	}
	if err != nil {
		typed.Errors = byField(err)
		s.render(c, http.StatusBadRequest, "settings", "Settings", typed)
		return
	}
	c.Redirect(http.StatusSeeOther, "/settings?saved=1")
}

// shareView is the share page at each step.
type shareView struct {
	Form    shareForm
	Errors  map[string]string
	Preview *SharePreview
	Result  *ShareResult
	Window  int
}

// shareForm is the form as typed, shown back unchanged.
type shareForm struct {
	PermissionNumber  string
	ReverseTracing    bool
	ReverseFrom       string
	ReverseTo         string
	FindMyKeyMaterial string
	Excluded          map[int64]bool
}

// shareWindowDays is how far back an upload reaches (spec §6.2).
const shareWindowDays = 21

// The reverse-tracing range the share form proposes (spec §9.2): from 14
// to 3 days before today, the days in which an infection diagnosed today
// was most likely caught (incubation of 2 to 14 days). The last two days
// stay out of it: the owner was most likely infectious then, and their
// contacts of those days get an ordinary exposure. The owner sees the
// dates, changes them, and consents by ticking the box; nothing is
// flagged without that.
const (
	reverseDefaultFirstDay = 14
	reverseDefaultLastDay  = 3
)

// blankShareForm is the share form before the owner typed anything.
func blankShareForm(now time.Time) shareForm {
	today := now.UTC().Truncate(24 * time.Hour)
	return shareForm{
		ReverseFrom: today.AddDate(0, 0, -reverseDefaultFirstDay).Format(dateLayout),
		ReverseTo:   today.AddDate(0, 0, -reverseDefaultLastDay).Format(dateLayout),
		Excluded:    map[int64]bool{},
	}
}

func (s *server) sharePage(c *gin.Context) {
	s.render(c, http.StatusOK, "share", "Share a diagnosis", shareView{Form: blankShareForm(s.now()), Window: shareWindowDays})
}

var permissionNumberPattern = regexp.MustCompile(`^[A-Za-z0-9-]{4,64}$`)

const dateLayout = "2006-01-02"

// shareRequestFromForm parses and checks the share form.
func (s *server) shareRequestFromForm(f url.Values) (ShareRequest, shareForm, error) {
	form := shareForm{
		PermissionNumber:  strings.TrimSpace(f.Get("permission_number")),
		ReverseTracing:    f.Get("reverse_tracing") == "on",
		ReverseFrom:       f.Get("reverse_from"),
		ReverseTo:         f.Get("reverse_to"),
		FindMyKeyMaterial: f.Get("findmy_key_material"),
		Excluded:          map[int64]bool{},
	}
	req := ShareRequest{PermissionNumber: form.PermissionNumber, ReverseTracing: form.ReverseTracing, FindMyKeyMaterial: form.FindMyKeyMaterial}
	var errs FieldErrors
	for _, v := range f["exclude"] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n%3600 != 0 {
			errs = append(errs, &FieldError{Field: "exclude", Message: fmt.Sprintf("%q is not the start of an hour.", v)})
			continue
		}
		form.Excluded[n] = true
		req.ExcludeHours = append(req.ExcludeHours, time.Unix(n, 0).UTC())
	}
	if form.ReverseTracing {
		from, err1 := time.ParseInLocation(dateLayout, form.ReverseFrom, time.UTC)
		to, err2 := time.ParseInLocation(dateLayout, form.ReverseTo, time.UTC)
		if err1 != nil {
			errs = append(errs, &FieldError{Field: "reverse_from", Message: "Give the first day of the reverse-tracing range (YYYY-MM-DD)."})
		}
		if err2 != nil {
			errs = append(errs, &FieldError{Field: "reverse_to", Message: "Give the last day of the reverse-tracing range (YYYY-MM-DD)."})
		}
		req.ReverseFrom, req.ReverseTo = from, to.Add(24*time.Hour-time.Minute)
	}
	if err := s.validateShare(req); err != nil {
		var fes FieldErrors
		if errors.As(err, &fes) {
			errs = append(errs, fes...)
		}
	}
	if len(errs) > 0 {
		return req, form, errs
	}
	return req, form, nil
}

// validateShare checks a request, from the form or the API, before the
// backend sees it.
func (s *server) validateShare(req ShareRequest) error {
	var errs FieldErrors
	if !permissionNumberPattern.MatchString(req.PermissionNumber) {
		errs = append(errs, &FieldError{Field: "permission_number", Message: "Enter the permission number your health authority gave you: 4 to 64 letters, digits or dashes."})
	}
	if req.ReverseTracing && !req.ReverseFrom.IsZero() && !req.ReverseTo.IsZero() {
		today := s.now().UTC().Truncate(24 * time.Hour)
		earliest := today.Add(-shareWindowDays * 24 * time.Hour)
		switch {
		case req.ReverseTo.Before(req.ReverseFrom):
			errs = append(errs, &FieldError{Field: "reverse_to", Message: "The last day must not be before the first day."})
		case req.ReverseFrom.Before(earliest):
			errs = append(errs, &FieldError{Field: "reverse_from", Message: fmt.Sprintf("Reverse tracing reaches back at most %d days, to %s.", shareWindowDays, earliest.Format(dateLayout))})
		case req.ReverseTo.After(today.Add(24 * time.Hour)):
			errs = append(errs, &FieldError{Field: "reverse_to", Message: "The range cannot end in the future."})
		}
	} else if req.ReverseTracing {
		errs = append(errs, &FieldError{Field: "reverse_from", Message: "Give the date range you consent to reverse tracing for."})
	}
	if len(req.FindMyKeyMaterial) > 64<<10 {
		errs = append(errs, &FieldError{Field: "findmy_key_material", Message: "Key material is at most 64 KiB."})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func (s *server) shareForm(c *gin.Context) {
	req, form, err := s.shareRequestFromForm(c.Request.PostForm)
	v := shareView{Form: form, Window: shareWindowDays}
	if err != nil {
		v.Errors = byField(err)
		s.render(c, http.StatusBadRequest, "share", "Share a diagnosis", v)
		return
	}
	ctx := c.Request.Context()
	// The preview is shown at every step, so the hours stay visible.
	preview, err := s.backend.SharePreview(ctx, req)
	if err != nil {
		if errors.Is(err, ErrInvalidInput) {
			v.Errors = byField(err)
			s.render(c, http.StatusBadRequest, "share", "Share a diagnosis", v)
			return
		}
		s.failed(c, "the share preview", err)
		return
	}
	v.Preview = &preview
	if c.PostForm("action") == "confirm" {
		res, err := s.backend.ShareSubmit(ctx, req)
		if err != nil {
			if errors.Is(err, ErrInvalidInput) {
				v.Errors = byField(err)
				s.render(c, http.StatusBadRequest, "share", "Share a diagnosis", v)
				return
			}
			s.failed(c, "the share", err)
			return
		}
		v.Result = &res
		if res.Accepted {
			// Nothing to retry: clear what was typed.
			v.Form = blankShareForm(s.now())
			v.Form.Excluded = form.Excluded
		}
	}
	s.render(c, http.StatusOK, "share", "Share a diagnosis", v)
}

// shareDay groups the hours of one day for the share timeline.
type shareDay struct {
	Day   time.Time
	Hours [24]*ShareHour
}

func shareDays(hs []ShareHour) []shareDay {
	var out []shareDay
	for i := range hs {
		h := &hs[i]
		d := h.Hour.UTC().Truncate(24 * time.Hour)
		if len(out) == 0 || !out[len(out)-1].Day.Equal(d) {
			out = append(out, shareDay{Day: d})
		}
		out[len(out)-1].Hours[h.Hour.UTC().Hour()] = h
	}
	return out
}

// dayTotal sums a day of the sightings-per-hour chart for its table.
type dayTotal struct {
	Day      time.Time
	BySource map[string]int64
	Total    int64
}

func dayTotals(hs []HourCount) []dayTotal {
	var out []dayTotal
	for _, h := range hs {
		d := h.Hour.UTC().Truncate(24 * time.Hour)
		if len(out) == 0 || !out[len(out)-1].Day.Equal(d) {
			out = append(out, dayTotal{Day: d, BySource: map[string]int64{}})
		}
		t := &out[len(out)-1]
		for src, n := range h.BySource {
			t.BySource[src] += n
			t.Total += n
		}
	}
	return out
}

// ---- API ----

func (s *server) apiStatus(c *gin.Context) {
	st, err := s.backend.Status(c.Request.Context())
	if err != nil {
		s.failed(c, "status", err)
		return
	}
	if st.Days == nil {
		st.Days = []DaySummary{}
	}
	if st.PossibleSource == nil {
		st.PossibleSource = []DaySummary{}
	}
	for _, ds := range [][]DaySummary{st.Days, st.PossibleSource} {
		for i := range ds {
			ds[i].Timeline = nil
		}
	}
	if st.Servers == nil {
		st.Servers = []ServerStatus{}
	}
	hl := statusHeadline(st)
	out := statusJSON{Status: st, Headline: strings.TrimSpace(hl.Title + " " + hl.Detail)}
	if len(st.PossibleSource) > 0 {
		out.PossibleSourceAdvice = PossibleSourceTitle
	}
	c.JSON(http.StatusOK, out)
}

type statusJSON struct {
	Status
	Headline string `json:"headline"`
	// PossibleSourceAdvice is PossibleSourceTitle when PossibleSource is
	// not empty (spec §9.2).
	PossibleSourceAdvice string `json:"possible_source_advice,omitempty"`
}

// apiExposures lists every day and source, with the per-minute timeline
// of ?day=YYYY-MM-DD or, without it, of the newest day with a match.
func (s *server) apiExposures(c *gin.Context) {
	day, ok := selectedDay(c)
	if !ok {
		c.JSON(http.StatusBadRequest, apiError{Error: "invalid input", Fields: map[string]string{"day": "want YYYY-MM-DD"}})
		return
	}
	ex, err := s.backend.Exposures(c.Request.Context(), day)
	if err != nil {
		s.failed(c, "exposures", err)
		return
	}
	if ex.Days == nil {
		ex.Days = []DaySummary{}
	}
	if ex.PossibleSource == nil {
		ex.PossibleSource = []DaySummary{}
	}
	c.JSON(http.StatusOK, ex)
}

func (s *server) apiContacts(c *gin.Context) {
	cl, err := s.backend.ContactLog(c.Request.Context())
	if err != nil {
		s.failed(c, "the contact log", err)
		return
	}
	if cl.Hours == nil {
		cl.Hours = []HourCount{}
	}
	if cl.RSSI == nil {
		cl.RSSI = []RSSICount{}
	}
	c.JSON(http.StatusOK, cl)
}

func (s *server) apiHarvester(c *gin.Context) {
	h, err := s.backend.Harvester(c.Request.Context())
	if err != nil {
		s.failed(c, "the harvester", err)
		return
	}
	if h.Kinds == nil {
		h.Kinds = []FrameRate{}
	}
	c.JSON(http.StatusOK, h)
}

func (s *server) apiSettings(c *gin.Context) {
	st, err := s.backend.Settings(c.Request.Context())
	if err != nil {
		s.failed(c, "settings", err)
		return
	}
	if st.Servers == nil {
		st.Servers = []Server{}
	}
	c.JSON(http.StatusOK, st)
}

// maxBody bounds API request bodies (key material is at most 64 KiB).
const maxBody = 128 << 10

// decodeJSON reads one JSON value, refusing unknown fields and trailing
// data, and answers 400 itself when it fails.
func decodeJSON(c *gin.Context, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON value")
		}
	}
	if err != nil {
		c.JSON(http.StatusBadRequest, apiError{Error: "request body: " + err.Error()})
		return false
	}
	return true
}

func fieldErrorJSON(c *gin.Context, err error) {
	c.JSON(http.StatusBadRequest, apiError{Error: "invalid input", Fields: byField(err)})
}

func (s *server) apiPutSettings(c *gin.Context) {
	// The fields added with the exposure score keep their stored values
	// when a request leaves them out, so that clients written before them
	// still work; the others are replaced as they always were.
	cur, err := s.backend.Settings(c.Request.Context())
	if err != nil {
		s.failed(c, "settings", err)
		return
	}
	st := Settings{RxCorrectionDB: cur.RxCorrectionDB, NotifyThreshold: cur.NotifyThreshold, LogLocation: cur.LogLocation}
	if !decodeJSON(c, &st) {
		return
	}
	if err := ValidateSettings(st, s.now()); err != nil {
		fieldErrorJSON(c, err)
		return
	}
	if err := s.backend.SaveSettings(c.Request.Context(), st); err != nil {
		if errors.Is(err, ErrInvalidInput) {
			fieldErrorJSON(c, err)
			return
		}
		s.failed(c, "saving settings", err)
		return
	}
	s.apiSettings(c)
}

func (s *server) apiShareRequest(c *gin.Context) (ShareRequest, bool) {
	var req ShareRequest
	if !decodeJSON(c, &req) {
		return req, false
	}
	req.PermissionNumber = strings.TrimSpace(req.PermissionNumber)
	if err := s.validateShare(req); err != nil {
		fieldErrorJSON(c, err)
		return req, false
	}
	return req, true
}

func (s *server) apiSharePreview(c *gin.Context) {
	req, ok := s.apiShareRequest(c)
	if !ok {
		return
	}
	p, err := s.backend.SharePreview(c.Request.Context(), req)
	if err != nil {
		if errors.Is(err, ErrInvalidInput) {
			fieldErrorJSON(c, err)
			return
		}
		s.failed(c, "the share preview", err)
		return
	}
	if p.Hours == nil {
		p.Hours = []ShareHour{}
	}
	c.JSON(http.StatusOK, p)
}

func (s *server) apiShareSubmit(c *gin.Context) {
	req, ok := s.apiShareRequest(c)
	if !ok {
		return
	}
	res, err := s.backend.ShareSubmit(c.Request.Context(), req)
	if err != nil {
		if errors.Is(err, ErrInvalidInput) {
			fieldErrorJSON(c, err)
			return
		}
		s.failed(c, "the share", err)
		return
	}
	c.JSON(http.StatusOK, res)
}
