// pgjdbc (Debian's libpostgresql-jdbc-java) with its defaults: extended protocol,
// server-side prepare after prepareThreshold (5) executions, autocommit on.
// Usage: java -cp postgresql.jar:. JdbcScenarios PORT SCENARIO TAG
// Prints one JSON line: {"results": [...], "where": [...]} (see common.js).
import java.io.StringReader;
import java.io.StringWriter;
import java.security.MessageDigest;
import java.sql.*;
import java.util.*;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

public class JdbcScenarios {
    static final List<String> results = new ArrayList<>();
    static final List<Boolean> where = new ArrayList<>();

    static Connection connect(int port) throws SQLException {
        return DriverManager.getConnection(
            "jdbc:postgresql://127.0.0.1:" + port + "/app", "app", "apppass");
    }

    // A JSON string: COPY's text carries tabs and newlines.
    static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"")
            .replace("\t", "\\t").replace("\n", "\\n") + "\"";
    }

    // The rows of a query as text, or its SQLSTATE.
    static String rows(PreparedStatement ps) {
        try (ResultSet rs = ps.executeQuery()) {
            StringBuilder b = new StringBuilder("rows:");
            int n = rs.getMetaData().getColumnCount();
            while (rs.next()) {
                b.append('[');
                for (int i = 1; i <= n; i++) b.append(i > 1 ? "," : "").append(rs.getString(i));
                b.append(']');
            }
            return b.toString();
        } catch (SQLException e) {
            return "error:" + e.getSQLState();
        }
    }

    static String update(PreparedStatement ps) {
        try {
            return "count:" + ps.executeUpdate();
        } catch (SQLException e) {
            return "error:" + e.getSQLState();
        }
    }

    static void offload(int port) throws SQLException {
        int errors = 0;
        try (Connection c = connect(port);
             PreparedStatement ps = c.prepareStatement("SELECT pg_is_in_recovery(), ?::int")) {
            for (int i = 0; i < 200; i++) {
                ps.setInt(1, i);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    where.add(rs.getBoolean(1));
                } catch (SQLException e) {
                    errors++;
                }
            }
        }
        results.add("errors:" + errors);
    }

    static void readonly(int port) throws SQLException {
        try (Connection c = connect(port)) {
            c.setAutoCommit(false);
            c.setReadOnly(true);
            PreparedStatement ps = c.prepareStatement("SELECT pg_is_in_recovery(), ?::int");
            for (int i = 0; i < 20; i++) {
                ps.setInt(1, i);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    where.add(rs.getBoolean(1));
                    results.add("i:" + rs.getInt(2));
                }
                c.commit();
            }
        }
    }

    static void txerror(int port, String tag) throws SQLException {
        try (Connection c = connect(port)) {
            PreparedStatement ins = c.prepareStatement("INSERT INTO drv(k, v) VALUES (?, ?)");
            PreparedStatement div = c.prepareStatement("SELECT 1 / ?::int");
            PreparedStatement one = c.prepareStatement("SELECT 1");
            PreparedStatement cnt = c.prepareStatement("SELECT count(*), sum(v) FROM drv WHERE k = ?");
            for (int i = 0; i < 7; i++) {
                String k = tag + "-" + i;
                c.setAutoCommit(false);
                ins.setString(1, k);
                ins.setInt(2, 1);
                results.add(update(ins));
                div.setInt(1, 0);
                results.add(rows(div));
                results.add(rows(one));
                c.rollback();
                c.setAutoCommit(true);
                cnt.setString(1, k);
                results.add(rows(cnt));
                ins.setInt(2, 2);
                results.add(update(ins));
                results.add(rows(cnt));
            }
        }
    }

    // 30 statement texts, each run past prepareThreshold so the driver names them.
    static void manynamed(int port) throws SQLException {
        try (Connection c = connect(port)) {
            List<PreparedStatement> ps = new ArrayList<>();
            for (int i = 0; i < 30; i++) ps.add(c.prepareStatement("SELECT ?::int + " + i));
            for (int round = 0; round < 8; round++) {
                for (PreparedStatement p : ps) {
                    p.setInt(1, round);
                    results.add(rows(p));
                }
            }
        }
    }

    static void ddl(int port, String tag) throws SQLException {
        String t = "drv_ddl_" + tag;
        try (Connection c = connect(port)) {
            c.createStatement().execute("CREATE TABLE " + t + " (a int)");
            c.createStatement().execute("INSERT INTO " + t + " VALUES (1)");
            PreparedStatement ps = c.prepareStatement("SELECT a FROM " + t);
            for (int i = 0; i < 6; i++) results.add(rows(ps));
            c.createStatement().execute("ALTER TABLE " + t + " ALTER COLUMN a TYPE text");
            for (int i = 0; i < 3; i++) results.add(rows(ps));
            try (Connection d = connect(port)) {
                PreparedStatement q = d.prepareStatement("SELECT a FROM " + t);
                for (int i = 0; i < 6; i++) results.add(rows(q));
            }
            c.createStatement().execute("DROP TABLE " + t);
        }
    }

    // COPY FROM STDIN, COPY TO STDOUT of what it wrote (the tag masked, as in
    // common.js), then a COPY FROM that fails on its data and the connection goes on.
    static void copy(int port, String tag) throws Exception {
        try (Connection c = connect(port)) {
            CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
            StringBuilder rows = new StringBuilder();
            for (int i = 0; i < 100; i++) rows.append(tag).append("-c").append(i).append('\t').append(i).append('\n');
            results.add("copied:" + copy.copyIn("COPY drv(k, v) FROM STDIN", new StringReader(rows.toString())));
            StringWriter back = new StringWriter();
            copy.copyOut("COPY (SELECT replace(k, '" + tag + "', 'T'), v FROM drv WHERE k LIKE '" + tag
                         + "-c%' ORDER BY v) TO STDOUT", back);
            results.add(back.toString());
            try {
                copy.copyIn("COPY drv(k, v) FROM STDIN", new StringReader(tag + "-c0\tnot a number\n"));
                results.add("ok");
            } catch (SQLException e) {
                results.add("error:" + e.getSQLState());
            }
            PreparedStatement cnt = c.prepareStatement("SELECT count(*) FROM drv WHERE k LIKE ? || '-c%'");
            cnt.setString(1, tag);
            results.add(rows(cnt));
        }
    }

    // pg_sleep(10) cancelled after 0.3 s by Statement.cancel() from another
    // thread, then the same connection runs a query.
    static void cancel(int port) throws Exception {
        try (Connection c = connect(port); Statement st = c.createStatement()) {
            long started = System.nanoTime();
            Thread canceller = new Thread(() -> {
                try {
                    Thread.sleep(300);
                    st.cancel();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            canceller.start();
            try {
                st.execute("SELECT pg_sleep(10)");
                results.add("not cancelled");
            } catch (SQLException e) {
                results.add("error:" + e.getSQLState());
            }
            canceller.join();
            results.add("fast:" + ((System.nanoTime() - started) / 1_000_000 < CANCEL_WITHIN_MS));
            results.add(rows(c.prepareStatement("SELECT 1")));
        }
    }
    static final long CANCEL_WITHIN_MS = 5000;

    static String digest(String s) throws Exception {
        byte[] md5 = MessageDigest.getInstance("MD5").digest(s.getBytes("ISO-8859-1"));
        StringBuilder b = new StringBuilder("length:" + s.length() + ",md5:");
        for (byte x : md5) b.append(String.format("%02x", x));
        return b.toString();
    }

    // A 10 MB parameter in, the same row read back, and a 10 MB result.
    static void bigrow(int port, String tag) throws Exception {
        String t = "drv_big_" + tag;
        StringBuilder big = new StringBuilder(10 * 1024 * 1024);
        for (int i = 0; big.length() < 10 * 1024 * 1024; i++) big.append((char) ('a' + (i * 7 + i / 26) % 26));
        try (Connection c = connect(port)) {
            c.createStatement().execute("CREATE TABLE " + t + " (v text)");
            PreparedStatement ins = c.prepareStatement("INSERT INTO " + t + " VALUES (?)");
            ins.setString(1, big.toString());
            results.add(update(ins));
            try (ResultSet rs = c.createStatement().executeQuery("SELECT v, md5(v) FROM " + t)) {
                rs.next();
                String v = rs.getString(1);
                results.add(digest(v));
                results.add(rs.getString(2));
                results.add("same:" + v.contentEquals(big));
            }
            PreparedStatement made = c.prepareStatement("SELECT repeat(?::text, ?::int)");
            made.setString(1, "ab");
            made.setInt(2, 5 * 1024 * 1024);
            try (ResultSet rs = made.executeQuery()) {
                rs.next();
                results.add(digest(rs.getString(1)));
            }
            c.createStatement().execute("DROP TABLE " + t);
        }
    }

    // The column and parameter types the driver reports before executing
    // (getMetaData() and getParameterMetaData() send Parse / Describe / Sync),
    // then the same statement run.
    static void describe(int port, String tag) throws SQLException {
        try (Connection c = connect(port);
             PreparedStatement ps = c.prepareStatement("SELECT count(*)::int AS n, ?::int + 1 AS v FROM drv WHERE k = ?")) {
            ResultSetMetaData md = ps.getMetaData();
            StringBuilder b = new StringBuilder("columns:");
            for (int i = 1; i <= md.getColumnCount(); i++)
                b.append('[').append(md.getColumnName(i)).append(',').append(md.getColumnTypeName(i)).append(']');
            results.add(b.toString());
            ParameterMetaData pm = ps.getParameterMetaData();
            b = new StringBuilder("params:");
            for (int i = 1; i <= pm.getParameterCount(); i++) b.append('[').append(pm.getParameterTypeName(i)).append(']');
            results.add(b.toString());
            ps.setInt(1, 1);
            ps.setString(2, tag);
            results.add(rows(ps));
        }
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        String scenario = args[1], tag = args[2];
        switch (scenario) {
            case "offload": offload(port); break;
            case "readonly": readonly(port); break;
            case "txerror": txerror(port, tag); break;
            case "manynamed": manynamed(port); break;
            case "ddl": ddl(port, tag); break;
            case "copy": copy(port, tag); break;
            case "cancel": cancel(port); break;
            case "bigrow": bigrow(port, tag); break;
            case "describe": describe(port, tag); break;
            default: System.err.println("unknown scenario " + scenario); System.exit(2);
        }
        StringBuilder b = new StringBuilder("{\"results\": [");
        for (int i = 0; i < results.size(); i++) b.append(i > 0 ? ", " : "").append(quote(results.get(i)));
        b.append("], \"where\": [");
        for (int i = 0; i < where.size(); i++) b.append(i > 0 ? ", " : "").append(where.get(i));
        System.out.println(b.append("]}"));
    }
}
