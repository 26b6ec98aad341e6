// pgjdbc (Debian's libpostgresql-jdbc-java) with its defaults: extended protocol,
// server-side prepare after prepareThreshold (5) executions, autocommit on.
// Usage: java -cp postgresql.jar:. JdbcScenarios PORT SCENARIO TAG
// Prints one JSON line: {"results": [...], "where": [...]} (see common.js).
import java.sql.*;
import java.util.*;

public class JdbcScenarios {
    static final List<String> results = new ArrayList<>();
    static final List<Boolean> where = new ArrayList<>();

    static Connection connect(int port) throws SQLException {
        return DriverManager.getConnection(
            "jdbc:postgresql://127.0.0.1:" + port + "/app", "app", "apppass");
    }

    static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
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

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        String scenario = args[1], tag = args[2];
        switch (scenario) {
            case "offload": offload(port); break;
            case "readonly": readonly(port); break;
            case "txerror": txerror(port, tag); break;
            case "manynamed": manynamed(port); break;
            case "ddl": ddl(port, tag); break;
            default: System.err.println("unknown scenario " + scenario); System.exit(2);
        }
        StringBuilder b = new StringBuilder("{\"results\": [");
        for (int i = 0; i < results.size(); i++) b.append(i > 0 ? ", " : "").append(quote(results.get(i)));
        b.append("], \"where\": [");
        for (int i = 0; i < where.size(); i++) b.append(i > 0 ? ", " : "").append(where.get(i));
        System.out.println(b.append("]}"));
    }
}
