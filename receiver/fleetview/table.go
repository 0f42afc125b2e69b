package fleetview

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints the view as an aligned table, one line per host, worst
// first, under a line naming the current release.
func WriteTable(w io.Writer, v View) error {
	rel := "none published"
	if v.Release != nil {
		rel = fmt.Sprintf("%s (seq %d)", v.Release.Version, v.Release.Seq)
	}
	fmt.Fprintf(w, "fleet at %s, release %s, %d host(s)\n", v.GeneratedAt, rel, len(v.Hosts))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tVERSION\tLAST EPISODE\t24H\tLAST ATTEMPT\tHEALTH\tALERTS\tCERT UNTIL\tREVOKED")
	for _, h := range v.Hosts {
		last := "-"
		if h.LastEpisodeAgeS != nil {
			last = ago(*h.LastEpisodeAgeS)
		}
		att := "-"
		if a := h.LastAttempt; a != nil {
			att = fmt.Sprintf("%d %s", a.Status, ago(a.AgeS))
			if a.Error != "" {
				att = fmt.Sprintf("%d %s %s", a.Status, a.Error, ago(a.AgeS))
			}
		}
		health := "-"
		if h.Health != nil {
			health = h.Health.Overall + " " + ago(h.Health.AgeS)
		}
		var alerts []string
		for _, a := range h.Alerts {
			alerts = append(alerts, a.Symptom)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%s\t%s\t%s\t%s\t%s\t%s\n", h.Host, deref(h.Version), last,
			h.Episodes24h, size(h.Bytes24h), att, health, orDash(strings.Join(alerts, ",")),
			day(h.CertNotAfter), day(h.RevokedAt))
	}
	return tw.Flush()
}

func ago(s int64) string {
	d := time.Duration(s) * time.Second
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", s)
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

func deref(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}

func day(p *string) string {
	if p == nil || len(*p) < 10 {
		return "-"
	}
	return (*p)[:10]
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
